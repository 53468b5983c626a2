/*
 * xml.c: XML documents to Lua tables, streaming with expat (no DOM).
 *
 * core.xml_decode(text, schema [, limits]) follows the rules HERE's v2 JSON
 * uses to mirror its XML, so the XML path ends in the same tables the JSON
 * path decodes to:
 *   - the root element's content is the result (the root itself has no key);
 *   - attributes become fields of the element's table (xmlns declarations
 *     are dropped);
 *   - an element with neither attributes nor child elements becomes a scalar:
 *     a number when the schema's numbers set names it, a boolean when its
 *     booleans set does and the text is true/false, else the string;
 *   - a child named in the arrays set collects into an array under its name;
 *     any other child that repeats is turned into an array too (nothing is
 *     lost);
 *   - namespace prefixes are removed from names.
 * A set maps an element name to true (everywhere) or to a set of parent
 * element names (only under those: "value" is a number under "price").
 *
 * core.xml_schema(tbl) compiles {arrays = set, numbers = set, booleans =
 * set} once into an evcp.XmlSchema (a hash of names in C), so decoding looks
 * nothing up in Lua tables. xml_decode also takes the plain table and
 * compiles it on each call (slower).
 *
 * Bounds: a DOCTYPE stops the parse (HERE's XML has none; this shuts out
 * entity expansion); depth is at most 64 elements; limits.max_bytes (default
 * 32 MiB) caps the text and limits.max_elements the elements, and whatever
 * the limits the tables built may take at most about 6 times the text
 * (estimated per element as it ends, see XML_COST_TABLE), so that
 * `<r><a/><a/>...` cannot take more than a few times its size.
 *
 * Lua work runs in one protected call per element, at its end tag: expat's
 * start callback only records the element (its attributes are copied into a
 * C buffer) and its table is made when its first child ends or when it ends
 * itself. An error (out of memory) is parked, the parser is stopped and the
 * error is raised only after expat has returned, so no longjmp crosses
 * expat's frames. The parser and the buffers belong to a box userdata whose
 * __gc frees them if anything raises.
 */
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "evcp.h"

#define EVCP_XMLBOX "evcp.XmlBox"
#define EVCP_XMLSCHEMA "evcp.XmlSchema"
#define XML_MAX_DEPTH 64
#define XML_NAME_MAX 47
#define XML_DEFAULT_MAX_BYTES (32.0 * 1024 * 1024)
/* What decoding may cost: each element's estimated share of memory (a table,
 * or a field and its string; measured on both runtimes, rounded up) adds up
 * to at most XML_BUDGET_FACTOR times the text plus XML_BUDGET_SLACK. */
#define XML_COST_TABLE 192.0
#define XML_COST_FIELD 64.0
#define XML_BUDGET_FACTOR 6.0
#define XML_BUDGET_SLACK (1024.0 * 1024.0)

enum { K_ARRAY = 1, K_NUMBER = 2, K_BOOLEAN = 4 };

/* ---- the compiled schema ---------------------------------------------- */

typedef struct {
  const char *name;
  size_t len;
  unsigned always;         /* kinds that hold under any parent */
  int cond_first, cond_n;  /* kinds that hold under some parents */
} sentry;

typedef struct {
  const char *parent;
  unsigned kind;
} scond;

typedef struct {
  int nentries, hcap; /* hcap: a power of two >= 2 * nentries */
  int *slots;         /* entry index + 1, or 0 */
  sentry *entries;
  scond *conds;
} xschema;

static unsigned hash_name(const char *s, size_t n) {
  unsigned h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* The kinds of element (or attribute) `name` under `parent`. */
static unsigned schema_kinds(const xschema *sc, const char *name, size_t len, const char *parent) {
  unsigned h = hash_name(name, len) & (unsigned)(sc->hcap - 1);
  for (;;) {
    int ix = sc->slots[h];
    const sentry *e;
    if (ix == 0) return 0;
    e = &sc->entries[ix - 1];
    if (e->len == len && memcmp(e->name, name, len) == 0) {
      unsigned k = e->always;
      int i;
      for (i = 0; i < e->cond_n; i++) {
        const scond *c = &sc->conds[e->cond_first + i];
        if (strcmp(c->parent, parent) == 0) k |= c->kind;
      }
      return k;
    }
    h = (h + 1) & (unsigned)(sc->hcap - 1);
  }
}

static const char *const set_names[] = {"arrays", "numbers", "booleans", NULL};
static const unsigned set_kinds[] = {K_ARRAY, K_NUMBER, K_BOOLEAN};

static void check_name(lua_State *L, int idx, const char *set, const char *what) {
  size_t n;
  if (lua_type(L, idx) != LUA_TSTRING)
    evcp_error(L, "core.xml_schema: %s: %s must be a string, got %s", set, what,
               luaL_typename(L, idx));
  lua_tolstring(L, idx, &n);
  if (n == 0 || n > XML_NAME_MAX)
    evcp_error(L, "core.xml_schema: %s: name '%s' must have 1..%d bytes", set,
               lua_tostring(L, idx), XML_NAME_MAX);
}

/*
 * core.xml_schema(tbl) -> evcp.XmlSchema
 * Two passes over the sets: the first counts names, conditions and string
 * bytes (names shared by several sets share an entry), the second fills one
 * userdata block (Lua never moves a userdata, so pointers into it hold).
 */
static int core_xml_schema(lua_State *L) {
  const int names = 2; /* name -> entry index; -index -> its number of conditions */
  int s, nentries = 0, nconds = 0, hcap = 8, pass;
  size_t strbytes = 0;
  xschema *sc = NULL;
  char *strings = NULL;
  int *fill = NULL; /* conditions filled so far, per entry */
  if (lua_type(L, 1) != LUA_TTABLE)
    return evcp_error(L, "core.xml_schema: argument #1 (schema) must be a table, got %s",
                      luaL_typename(L, 1));
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    int known = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
      for (s = 0; set_names[s] != NULL; s++)
        if (strcmp(lua_tostring(L, -1), set_names[s]) == 0) known = 1;
    if (!known)
      return evcp_error(L, "core.xml_schema: unknown key '%s' (expected arrays, numbers, booleans)",
                        lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
  }
  lua_newtable(L); /* 2: names */
  for (pass = 0; pass < 2; pass++) {
    for (s = 0; set_names[s] != NULL; s++) {
      int set;
      lua_getfield(L, 1, set_names[s]);
      set = lua_gettop(L);
      if (lua_isnil(L, set)) {
        lua_pop(L, 1);
        continue;
      }
      if (lua_type(L, set) != LUA_TTABLE)
        return evcp_error(L, "core.xml_schema: %s must be a table, got %s", set_names[s],
                          luaL_typename(L, set));
      lua_pushnil(L);
      while (lua_next(L, set) != 0) { /* set+1 name, set+2 value */
        int ix;
        size_t nlen;
        const char *nm;
        check_name(L, set + 1, set_names[s], "a name");
        nm = lua_tolstring(L, set + 1, &nlen);
        lua_pushvalue(L, set + 1);
        lua_rawget(L, names);
        ix = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (pass == 0 && ix == 0) {
          ix = ++nentries;
          lua_pushvalue(L, set + 1);
          lua_pushinteger(L, ix);
          lua_rawset(L, names);
          strbytes += nlen + 1;
        }
        if (pass == 1 && sc->entries[ix - 1].name == NULL) {
          unsigned h = hash_name(nm, nlen) & (unsigned)(hcap - 1);
          sentry *e = &sc->entries[ix - 1];
          memcpy(strings, nm, nlen + 1);
          e->name = strings;
          e->len = nlen;
          strings += nlen + 1;
          while (sc->slots[h] != 0) h = (h + 1) & (unsigned)(hcap - 1);
          sc->slots[h] = ix;
        }
        if (lua_type(L, set + 2) == LUA_TBOOLEAN && lua_toboolean(L, set + 2)) {
          if (pass == 1) sc->entries[ix - 1].always |= set_kinds[s];
        } else if (lua_type(L, set + 2) == LUA_TTABLE) {
          lua_pushnil(L);
          while (lua_next(L, set + 2) != 0) { /* set+3 parent, set+4 true */
            size_t plen;
            const char *pn;
            check_name(L, set + 3, set_names[s], "a parent name");
            if (!(lua_type(L, set + 4) == LUA_TBOOLEAN && lua_toboolean(L, set + 4)))
              return evcp_error(L, "core.xml_schema: %s.%s.%s must be true", set_names[s], nm,
                                lua_tostring(L, set + 3));
            pn = lua_tolstring(L, set + 3, &plen);
            if (pass == 0) {
              nconds++;
              strbytes += plen + 1;
              lua_rawgeti(L, names, -ix);
              lua_pushinteger(L, lua_tointeger(L, -1) + 1);
              lua_rawseti(L, names, -ix);
              lua_pop(L, 1);
            } else {
              sentry *e = &sc->entries[ix - 1];
              scond *c = &sc->conds[e->cond_first + fill[ix - 1]++];
              memcpy(strings, pn, plen + 1);
              c->parent = strings;
              c->kind = set_kinds[s];
              strings += plen + 1;
            }
            lua_pop(L, 1);
          }
        } else {
          return evcp_error(L, "core.xml_schema: %s.%s must be true or a set of parent names",
                            set_names[s], nm);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    if (pass == 0) {
      size_t total;
      char *base;
      int i, first = 0;
      while (hcap < 2 * nentries) hcap *= 2;
      total = sizeof(xschema) + sizeof(int) * (size_t)hcap + sizeof(sentry) * (size_t)nentries +
              sizeof(scond) * (size_t)nconds + sizeof(int) * (size_t)nentries + strbytes;
      base = (char *)lua_newuserdata(L, total); /* 3: the result */
      memset(base, 0, total);
      sc = (xschema *)(void *)base;
      sc->nentries = nentries;
      sc->hcap = hcap;
      sc->slots = (int *)(void *)(base + sizeof(xschema));
      sc->entries = (sentry *)(void *)(sc->slots + hcap);
      sc->conds = (scond *)(void *)(sc->entries + nentries);
      fill = (int *)(void *)(sc->conds + nconds);
      strings = (char *)(fill + nentries);
      for (i = 0; i < nentries; i++) {
        lua_rawgeti(L, names, -(i + 1));
        sc->entries[i].cond_first = first;
        sc->entries[i].cond_n = (int)lua_tointeger(L, -1);
        first += sc->entries[i].cond_n;
        lua_pop(L, 1);
      }
      luaL_getmetatable(L, EVCP_XMLSCHEMA);
      lua_setmetatable(L, 3);
    }
  }
  lua_settop(L, 3);
  return 1;
}

static int schema_tostring(lua_State *L) {
  xschema *sc = (xschema *)evcp_checkself(L, EVCP_XMLSCHEMA, "evcp.XmlSchema.__tostring");
  lua_pushfstring(L, "%s: %d names", EVCP_XMLSCHEMA, sc->nentries);
  return 1;
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct {
  char name[XML_NAME_MAX + 1]; /* local name, for the children's schema lookups */
  size_t text_start;           /* offset of this element's text in the text buffer */
  size_t attr_start;           /* offset of its attributes in the attribute buffer */
  int nattrs;
  int has_children;
} frame;

typedef struct {
  char *p;
  size_t len, cap;
} cbuf;

typedef struct {
  XML_Parser parser;
  lua_State *L;
  const xschema *schema;
  cbuf text;  /* character data of the open elements, back to back */
  cbuf attrs; /* their attributes: name NUL value NUL ... */
  frame frames[XML_MAX_DEPTH + 1];
  int depth;
  int base;  /* stack index of the root's slot minus 1; slot of depth d: base + d */
  int automt; /* stack index of the marker metatable of repeat-made arrays */
  const char *end_name; /* local name of the element being ended */
  int op;               /* stack index of op_end */
  double elements, max_elements;
  double cost, budget; /* estimated bytes of the tables built so far, and the cap */
  int failed; /* a parked error is on the stack top */
  const char *stop_reason;
} xmlstate;

typedef struct {
  xmlstate *st;
} xmlbox;

static const char *local_name(const char *name) {
  const char *c = strchr(name, ':');
  return c ? c + 1 : name;
}

static int cbuf_add(cbuf *b, const char *s, size_t n) {
  if (n > ((size_t)-1) / 2 - b->len) return 0;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *p;
    while (cap < b->len + n) cap *= 2;
    p = (char *)realloc(b->p, cap);
    if (p == NULL) return 0;
    b->p = p;
    b->cap = cap;
  }
  if (n > 0) memcpy(b->p + b->len, s, n);
  b->len += n;
  return 1;
}

static int all_space(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
  return 1;
}

static int is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Pushes the typed value of text s[0..n) with the kinds of its name. */
static void push_scalar(lua_State *L, unsigned kinds, const char *s, size_t n) {
  if (kinds & K_NUMBER) {
    char buf[64];
    char *end;
    double d;
    size_t a = 0, b = n;
    while (a < b && is_space(s[a])) a++;
    while (b > a && is_space(s[b - 1])) b--;
    if (b > a && b - a < sizeof buf) {
      memcpy(buf, s + a, b - a);
      buf[b - a] = '\0';
      d = strtod(buf, &end);
      if (*end == '\0' && d == d && d < 1e308 && d > -1e308) {
        lua_pushnumber(L, d);
        return;
      }
    }
  } else if (kinds & K_BOOLEAN) {
    if (n == 4 && memcmp(s, "true", 4) == 0) {
      lua_pushboolean(L, 1);
      return;
    }
    if (n == 5 && memcmp(s, "false", 5) == 0) {
      lua_pushboolean(L, 0);
      return;
    }
  }
  lua_pushlstring(L, s, n);
}

/* Pushes a new table holding the recorded attributes of frame f. */
static void push_element_table(lua_State *L, xmlstate *st, const frame *f) {
  const char *a;
  int i;
  lua_createtable(L, 0, f->nattrs);
  if (f->nattrs == 0 || st->attrs.p == NULL) return;
  a = st->attrs.p + f->attr_start;
  for (i = 0; i < f->nattrs; i++) {
    size_t nl = strlen(a);
    const char *v = a + nl + 1;
    size_t vl = strlen(v);
    push_scalar(L, schema_kinds(st->schema, a, nl, f->name), v, vl);
    lua_setfield(L, -2, a);
    a = v + vl + 1;
  }
}

/* Stores the value on top into the table at index parent under name. */
static void attach(lua_State *L, int automt, const char *name, int is_array, int parent) {
  if (is_array) {
    lua_getfield(L, parent, name);
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, parent, name);
    }
    lua_insert(L, -2); /* array, value */
    lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    return;
  }
  lua_getfield(L, parent, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_setfield(L, parent, name);
    return;
  }
  /* a repeat: keep both, in an array marked as made here */
  if (lua_type(L, -1) == LUA_TTABLE && lua_getmetatable(L, -1)) {
    int marked = lua_rawequal(L, -1, automt);
    lua_pop(L, 1);
    if (marked) {
      lua_insert(L, -2);
      lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
      return;
    }
  }
  lua_createtable(L, 4, 0); /* value, old, array */
  lua_pushvalue(L, automt);
  lua_setmetatable(L, -2);
  lua_insert(L, -2); /* value, array, old */
  lua_rawseti(L, -2, 1);
  lua_insert(L, -2); /* array, value */
  lua_rawseti(L, -2, 2);
  lua_setfield(L, parent, name);
}

/*
 * The protected work of one end tag. Args: 1 the state, 2 the marker
 * metatable, 3 the parent's table or nil, 4 the element's table or nil.
 * Returns the parent's table (made here when this is its first child); for
 * the root, the root's table.
 */
static int op_end(lua_State *L) {
  xmlstate *st = (xmlstate *)lua_touserdata(L, 1);
  frame *f = &st->frames[st->depth];
  const char *parent = st->depth > 1 ? st->frames[st->depth - 1].name : "";
  const char *text = st->text.p ? st->text.p + f->text_start : "";
  size_t n = st->text.len - f->text_start;
  if (st->depth == 1) {
    if (lua_isnil(L, 4)) push_element_table(L, st, f);
    else lua_pushvalue(L, 4);
    return 1;
  }
  if (lua_isnil(L, 3)) push_element_table(L, st, &st->frames[st->depth - 1]);
  else lua_pushvalue(L, 3); /* 5: the parent */
  {
    const char *name = st->end_name;
    unsigned kinds = schema_kinds(st->schema, name, strlen(name), parent);
    if (!f->has_children && f->nattrs == 0) {
      push_scalar(L, kinds, text, n);
    } else {
      if (lua_isnil(L, 4)) push_element_table(L, st, f);
      else lua_pushvalue(L, 4);
      if (n > 0 && !all_space(text, n)) {
        lua_pushlstring(L, text, n);
        lua_setfield(L, -2, "_text");
      }
    }
    attach(L, 2, name, (kinds & K_ARRAY) != 0, 5);
  }
  return 1;
}

static void stop(xmlstate *st, const char *why) {
  if (st->stop_reason == NULL) st->stop_reason = why;
  XML_StopParser(st->parser, XML_FALSE);
}

/* ---- expat callbacks ---------------------------------------------------- */

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  xmlstate *st = (xmlstate *)ud;
  frame *f;
  int i;
  if (st->failed || st->stop_reason) return;
  if (st->depth >= XML_MAX_DEPTH) {
    stop(st, "XML nested deeper than 64 elements");
    return;
  }
  if (++st->elements > st->max_elements) {
    stop(st, "too many elements");
    return;
  }
  if (st->depth > 0) st->frames[st->depth].has_children = 1;
  st->depth++;
  f = &st->frames[st->depth];
  f->text_start = st->text.len;
  f->attr_start = st->attrs.len;
  f->nattrs = 0;
  f->has_children = 0;
  {
    const char *ln = local_name(name);
    size_t k = strlen(ln);
    if (k > XML_NAME_MAX) k = XML_NAME_MAX;
    memcpy(f->name, ln, k);
    f->name[k] = '\0';
  }
  for (i = 0; atts != NULL && atts[i] != NULL; i += 2) {
    const char *an = atts[i];
    if (strncmp(an, "xmlns", 5) == 0 && (an[5] == '\0' || an[5] == ':')) continue;
    an = local_name(an);
    if (!cbuf_add(&st->attrs, an, strlen(an) + 1) ||
        !cbuf_add(&st->attrs, atts[i + 1], strlen(atts[i + 1]) + 1)) {
      stop(st, "out of memory");
      return;
    }
    f->nattrs++;
  }
  lua_pushnil(st->L); /* the element's slot (stack space reserved up front) */
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  xmlstate *st = (xmlstate *)ud;
  lua_State *L = st->L;
  int slot = st->base + st->depth;
  if (st->failed || st->stop_reason) return;
  {
    const frame *f = &st->frames[st->depth];
    st->cost += (f->has_children || f->nattrs > 0)
                    ? XML_COST_TABLE + XML_COST_FIELD * f->nattrs
                    : XML_COST_FIELD + (double)(st->text.len - f->text_start);
    if (st->cost > st->budget) {
      stop(st, "the document would take more than 6 times its size in memory");
      return;
    }
  }
  st->end_name = local_name(name);
  lua_pushvalue(L, st->op); /* made once: on LuaJIT each push would allocate */
  lua_pushlightuserdata(L, st);
  lua_pushvalue(L, st->automt);
  if (st->depth > 1) lua_pushvalue(L, slot - 1);
  else lua_pushnil(L);
  lua_pushvalue(L, slot);
  if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
    st->failed = 1;
    XML_StopParser(st->parser, XML_FALSE);
    return;
  }
  if (st->depth > 1) {
    lua_replace(L, slot - 1); /* the parent's table */
    lua_settop(L, slot - 1);
  } else {
    lua_replace(L, slot); /* the root's table: the result */
  }
  st->text.len = st->frames[st->depth].text_start;
  st->attrs.len = st->frames[st->depth].attr_start;
  st->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int n) {
  xmlstate *st = (xmlstate *)ud;
  if (st->failed || st->stop_reason || st->depth == 0 || n <= 0) return;
  if (!cbuf_add(&st->text, s, (size_t)n)) stop(st, "out of memory");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
  (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
  stop((xmlstate *)ud, "DOCTYPE is not allowed");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value,
                              int len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation) {
  (void)name, (void)pe, (void)value, (void)len, (void)base, (void)sysid, (void)pubid,
      (void)notation;
  stop((xmlstate *)ud, "entity declarations are not allowed");
}

/* ---- the box that frees the parser and buffers whatever happens -------- */

static void box_free(xmlbox *b) {
  if (b->st != NULL) {
    if (b->st->parser != NULL) XML_ParserFree(b->st->parser);
    free(b->st->text.p);
    free(b->st->attrs.p);
    free(b->st);
    b->st = NULL;
  }
}

static int box_gc(lua_State *L) {
  xmlbox *b = (xmlbox *)luaL_testudata(L, 1, EVCP_XMLBOX);
  if (b != NULL) box_free(b);
  return 0;
}

static xmlbox *new_box(lua_State *L) {
  xmlbox *b = (xmlbox *)lua_newuserdata(L, sizeof(xmlbox));
  b->st = NULL;
  luaL_getmetatable(L, EVCP_XMLBOX);
  lua_setmetatable(L, -2);
  b->st = (xmlstate *)calloc(1, sizeof(xmlstate));
  if (b->st == NULL) luaL_error(L, "evcp: out of memory");
  b->st->parser = XML_ParserCreate("UTF-8");
  if (b->st->parser == NULL) luaL_error(L, "evcp: out of memory");
  return b;
}

static double opt_limit(lua_State *L, int limits, const char *k, double dflt) {
  double v = 0;
  lua_getfield(L, limits, k);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  if (lua_type(L, -1) != LUA_TNUMBER || !((v = (double)lua_tonumber(L, -1)) >= 0))
    evcp_error(L, "core.xml_decode: limits.%s must be a number >= 0, got %s", k,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/*
 * core.xml_decode(text, schema [, limits]) -> table | nil, message
 * schema: an evcp.XmlSchema (core.xml_schema) or the table it compiles from.
 * limits: {max_bytes = 32 MiB, max_elements = no fixed number} (see header).
 */
static int core_xml_decode(lua_State *L) {
  size_t n;
  const char *text;
  double max_bytes = XML_DEFAULT_MAX_BYTES, max_elements = -1;
  xmlbox *b;
  xmlstate *st;
  enum XML_Status rc;
  if (lua_type(L, 1) != LUA_TSTRING)
    return evcp_error(L, "core.xml_decode: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 1));
  text = lua_tolstring(L, 1, &n);
  if (lua_type(L, 2) == LUA_TTABLE) { /* a plain schema: compile it now */
    lua_pushcfunction(L, core_xml_schema);
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    lua_replace(L, 2);
  } else if (luaL_testudata(L, 2, EVCP_XMLSCHEMA) == NULL) {
    return evcp_error(L, "core.xml_decode: argument #2 (schema) must be an evcp.XmlSchema "
                         "(core.xml_schema) or a schema table, got %s",
                      luaL_typename(L, 2));
  }
  if (!lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TTABLE)
      return evcp_error(L, "core.xml_decode: argument #3 (limits) must be a table, got %s",
                        luaL_typename(L, 3));
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (k == NULL || (strcmp(k, "max_bytes") != 0 && strcmp(k, "max_elements") != 0))
        return evcp_error(L, "core.xml_decode: unknown limit '%s'",
                          k ? k : luaL_typename(L, -2));
      lua_pop(L, 1);
    }
    max_bytes = opt_limit(L, 3, "max_bytes", max_bytes);
    max_elements = opt_limit(L, 3, "max_elements", -1);
  }
  lua_settop(L, 2);
  if ((double)n > max_bytes || n > 0x7fffffff) {
    lua_pushnil(L);
    lua_pushfstring(L, "XML: document of %d bytes is larger than %d bytes",
                    (int)(n > 0x7fffffff ? 0x7fffffff : n),
                    (int)(max_bytes < 2147483647.0 ? max_bytes : 2147483647.0));
    return 2;
  }
  if (max_elements < 0) max_elements = 1e300;
  b = new_box(L); /* 3 */
  st = b->st;
  lua_newtable(L); /* 4: marker metatable for repeat-made arrays */
  lua_pushcfunction(L, op_end); /* 5 */
  luaL_checkstack(L, XML_MAX_DEPTH + 20, "evcp: XML too deep");
  st->L = L;
  st->schema = (const xschema *)lua_touserdata(L, 2);
  st->automt = 4;
  st->op = 5;
  st->base = 5; /* the root's slot is 6 */
  st->max_elements = max_elements;
  st->budget = XML_BUDGET_FACTOR * (double)n + XML_BUDGET_SLACK;
  XML_SetUserData(st->parser, st);
  XML_SetElementHandler(st->parser, on_start, on_end);
  XML_SetCharacterDataHandler(st->parser, on_text);
  XML_SetStartDoctypeDeclHandler(st->parser, on_doctype);
  XML_SetEntityDeclHandler(st->parser, on_entity);
  rc = XML_Parse(st->parser, text, (int)n, 1);
  if (st->failed) {
    const char *msg = lua_tostring(L, -1);
    lua_pushnil(L);
    lua_pushfstring(L, "XML: %s", msg ? msg : "error while building tables");
    box_free(b);
    return 2;
  }
  if (st->stop_reason != NULL || rc != XML_STATUS_OK) {
    lua_pushnil(L);
    if (st->stop_reason != NULL && strcmp(st->stop_reason, "too many elements") == 0)
      lua_pushfstring(L, "XML: more than %d elements", (int)max_elements);
    else if (st->stop_reason != NULL)
      lua_pushfstring(L, "XML: %s (line %d)", st->stop_reason,
                      (int)XML_GetCurrentLineNumber(st->parser));
    else
      lua_pushfstring(L, "XML: %s at line %d column %d",
                      XML_ErrorString(XML_GetErrorCode(st->parser)),
                      (int)XML_GetCurrentLineNumber(st->parser),
                      (int)XML_GetCurrentColumnNumber(st->parser));
    box_free(b);
    return 2;
  }
  box_free(b);
  if (lua_gettop(L) != 6 || lua_type(L, 6) != LUA_TTABLE) {
    lua_settop(L, 0);
    lua_pushnil(L);
    lua_pushliteral(L, "XML: the root element has no content");
    return 2;
  }
  return 1;
}

static void XMLCALL noop_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  (void)ud, (void)name, (void)atts;
}
static void XMLCALL noop_end(void *ud, const XML_Char *name) {
  (void)ud, (void)name;
}
static void XMLCALL noop_text(void *ud, const XML_Char *s, int n) {
  (void)ud, (void)s, (void)n;
}

/* core.xml_scan(text) -> true | nil, message: expat parse with empty handlers
 * (the floor of the XML benchmark). */
static int core_xml_scan(lua_State *L) {
  size_t n;
  const char *text;
  xmlbox *b;
  if (lua_type(L, 1) != LUA_TSTRING)
    return evcp_error(L, "core.xml_scan: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 1));
  text = lua_tolstring(L, 1, &n);
  if (n > 0x7fffffff) {
    lua_pushnil(L);
    lua_pushliteral(L, "XML: document too large");
    return 2;
  }
  b = new_box(L);
  XML_SetElementHandler(b->st->parser, noop_start, noop_end);
  XML_SetCharacterDataHandler(b->st->parser, noop_text);
  if (XML_Parse(b->st->parser, text, (int)n, 1) != XML_STATUS_OK) {
    lua_pushnil(L);
    lua_pushstring(L, XML_ErrorString(XML_GetErrorCode(b->st->parser)));
    box_free(b);
    return 2;
  }
  box_free(b);
  lua_pushboolean(L, 1);
  return 1;
}

int evcp_xml_open(lua_State *L) {
  static const luaL_Reg box_meta[] = {{"__gc", box_gc}, {NULL, NULL}};
  static const luaL_Reg schema_meta[] = {{"__tostring", schema_tostring}, {NULL, NULL}};
  static const luaL_Reg none[] = {{NULL, NULL}};
  static const luaL_Reg funcs[] = {{"xml_decode", core_xml_decode},
                                   {"xml_schema", core_xml_schema},
                                   {"xml_scan", core_xml_scan},
                                   {NULL, NULL}};
  evcp_createclass(L, EVCP_XMLBOX, box_meta, none);
  evcp_createclass(L, EVCP_XMLSCHEMA, schema_meta, none);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
