/*
 * xml.c: XML documents to Lua tables, streaming with expat (no DOM).
 *
 * core.xml_decode(text, schema [, limits]) follows the rules HERE's v2 JSON
 * uses to mirror its XML, so the XML path ends in the same tables the JSON
 * path decodes to (evcp.v2.schema's canonical shape, with no pass after it):
 *   - the root element's content is the result (the root itself has no key);
 *   - attributes become fields of the element's table (xmlns declarations
 *     are dropped);
 *   - an element with neither attributes nor child elements becomes a scalar:
 *     a number when the schema's numbers set names it (an integer where the
 *     runtime has them and its integers set names it and the value is
 *     whole), a boolean when its booleans set does and the text is
 *     true/false, else the string;
 *   - a child (or attribute) named in the arrays set collects into an array
 *     under its name; any other child that repeats is turned into an array
 *     too (nothing is lost);
 *   - namespace prefixes are removed from names.
 * A set maps an element name to true (everywhere) or to a set of parent
 * element names (only under those: "value" is a number under "price"); the
 * parent name "ROOT" also stands for the root element, whatever its name.
 *
 * core.xml_schema(tbl) compiles {arrays = set, numbers = set, integers = set,
 * booleans = set} once into an evcp.XmlSchema (a hash of names in C), so
 * decoding looks nothing up in Lua tables. xml_decode also takes the plain
 * table and compiles it on each call (slower).
 *
 * Bounds: a DOCTYPE stops the parse (HERE's XML has none; this shuts out
 * entity expansion); depth is at most 64 elements; limits.max_bytes (default
 * 32 MiB) caps the text and limits.max_elements the elements, and whatever
 * the limits the tables built may take at most about 6 times the text
 * (estimated per element as it ends, see XML_COST_TABLE), so that
 * `<r><a/><a/>...` cannot take more than a few times its size.
 *
 * Two passes, so that no Lua code runs while expat holds a frame: expat's
 * callbacks only record the document as a tape of events in C buffers
 * (element starts with their attributes, element ends with their text; each
 * distinct name once, with its schema entry, and whether an element is the
 * first of its name in its parent: a 64-bit filter per open element, so the
 * build stores such an element without looking for an earlier one); then one
 * protected call builds the tables from the tape, each table made at its size. The parser and the
 * buffers belong to a box userdata whose __gc frees them if anything raises.
 */
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "evcp.h"
#include "schema.h"

#define EVCP_XMLBOX "evcp.XmlBox"
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

/* On the tape only (T_END): no attribute or earlier child of the parent has
 * this name, so the build stores it without looking for one. */
enum { K_FIRST = 16 };

static const char *const set_names[] = {"arrays", "numbers", "integers", "booleans", NULL};
static const unsigned set_kinds[] = {K_ARRAY, K_NUMBER, K_INTEGER, K_BOOLEAN};

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
      return evcp_error(L, "core.xml_schema: unknown key '%s' (expected arrays, numbers, integers, booleans)",
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
              c->len = plen;
              c->kind = set_kinds[s];
              c->root = strcmp(pn, "ROOT") == 0;
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

/* What a new distinct name costs (its entry, hash slot and Lua string). */
#define XML_COST_NAME 96.0
/* Most hash slots a table is made with ahead of its fields. */
#define XML_PRESIZE_MAX 64

/* The tape: records of ints.
 *   T_START name nattrs nfields flags {attr_name kinds value_len}*nattrs
 *   T_END kinds text_len
 * Attribute values and texts are in the bytes buffer, in the same order. */
enum { T_START = 1, T_END = 2 };
enum { F_TABLE = 1 }; /* the element has attributes or children: a table */

typedef struct {
  char *p;
  size_t len, cap;
} cbuf;

/* One distinct name of the document. */
typedef struct {
  size_t off, len;     /* in the names buffer (NUL-terminated there) */
  unsigned hash;
  const sentry *entry; /* its schema entry, or NULL */
} xname;

typedef struct {
  int name;          /* name id */
  size_t text_start; /* offset of this element's text in the text buffer */
  size_t start;      /* index (in ints) of its T_START record on the tape */
  int nattrs;
  int nchildren;
  int has_children;
  unsigned long long seen; /* bit (name id % 64) of each attribute and child name */
} frame;

typedef struct {
  XML_Parser parser;
  const xschema *schema;
  cbuf text;  /* character data of the open elements, back to back */
  cbuf tape;  /* the records, as ints */
  cbuf bytes; /* attribute values and element texts */
  cbuf names; /* the distinct names, NUL-terminated, back to back */
  xname *nm;
  int nnames, nmcap;
  int *slots; /* hash of names: id + 1, or 0 */
  int nslots; /* a power of two > 2 * nnames, or 0 */
  frame frames[XML_MAX_DEPTH + 1];
  int depth;
  double elements, max_elements;
  double cost, budget; /* estimated bytes of the tables to build, and the cap */
  const char *stop_reason;
} xmlstate;

typedef struct {
  xmlstate *st;
} xmlbox;

static const char *local_name(const char *name) {
  const char *c = strchr(name, ':');
  return c ? c + 1 : name;
}

static int cbuf_reserve(cbuf *b, size_t n) {
  if (n > ((size_t)-1) / 4 - b->len) return 0;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *p;
    while (cap < b->len + n) cap *= 2;
    p = (char *)realloc(b->p, cap);
    if (p == NULL) return 0;
    b->p = p;
    b->cap = cap;
  }
  return 1;
}

static int cbuf_add(cbuf *b, const char *s, size_t n) {
  if (!cbuf_reserve(b, n)) return 0;
  if (n > 0) memcpy(b->p + b->len, s, n);
  b->len += n;
  return 1;
}

/* The tape's ints (the buffer's length counts bytes). */
#define TAPE(st) ((int *)(void *)(st)->tape.p)
#define TAPE_LEN(st) ((st)->tape.len / sizeof(int))

static int tape_put(xmlstate *st, int v) {
  if (st->tape.len + sizeof(int) > st->tape.cap && !cbuf_reserve(&st->tape, sizeof(int)))
    return 0;
  memcpy(st->tape.p + st->tape.len, &v, sizeof(int));
  st->tape.len += sizeof(int);
  return 1;
}

static int all_space(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
  return 1;
}

/* Lua's own idea of a space, so that a number reads as tonumber reads it. */
static int is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

static void stop(xmlstate *st, const char *why) {
  if (st->stop_reason == NULL) st->stop_reason = why;
  XML_StopParser(st->parser, XML_FALSE);
}

/* The id of name s[0..n), added when new; -1 when out of memory. */
static int intern(xmlstate *st, const char *s, size_t n) {
  unsigned h = hash_name(s, n), mask;
  int i;
  if (2 * (st->nnames + 1) >= st->nslots) { /* grow the hash (and rehash) */
    int cap = st->nslots ? 2 * st->nslots : 64;
    int *slots;
    if (cap > (1 << 28)) return -1;
    slots = (int *)calloc((size_t)cap, sizeof(int));
    if (slots == NULL) return -1;
    for (i = 0; i < st->nnames; i++) {
      unsigned j = st->nm[i].hash & (unsigned)(cap - 1);
      while (slots[j] != 0) j = (j + 1) & (unsigned)(cap - 1);
      slots[j] = i + 1;
    }
    free(st->slots);
    st->slots = slots;
    st->nslots = cap;
  }
  mask = (unsigned)(st->nslots - 1);
  for (i = (int)(h & mask);; i = (int)(((unsigned)i + 1) & mask)) {
    int ix = st->slots[i];
    const xname *x;
    if (ix == 0) break;
    x = &st->nm[ix - 1];
    if (x->hash == h && x->len == n && memcmp(st->names.p + x->off, s, n) == 0) return ix - 1;
  }
  if (st->nnames == st->nmcap) {
    int cap = st->nmcap ? 2 * st->nmcap : 64;
    xname *nm = (xname *)realloc(st->nm, sizeof(xname) * (size_t)cap);
    if (nm == NULL) return -1;
    st->nm = nm;
    st->nmcap = cap;
  }
  {
    xname *x = &st->nm[st->nnames];
    x->off = st->names.len;
    if (!cbuf_add(&st->names, s, n) || !cbuf_add(&st->names, "", 1)) return -1;
    x->len = n;
    x->hash = h;
    x->entry = schema_find(st->schema, s, n);
  }
  st->slots[i] = st->nnames + 1;
  st->cost += XML_COST_NAME + (double)n;
  return st->nnames++;
}

/* The kinds of name id under the element of frame `parent` (depth d). */
static unsigned kinds_under(const xmlstate *st, int id, int d) {
  const xname *x = &st->nm[id];
  const xname *p;
  size_t plen;
  if (x->entry == NULL) return 0;
  p = &st->nm[st->frames[d].name];
  plen = p->len > XML_NAME_MAX ? XML_NAME_MAX : p->len; /* parents are matched on 47 bytes */
  return entry_kinds(st->schema, x->entry, st->names.p + p->off, plen, d == 1);
}

/* ---- expat callbacks: recording ---------------------------------------- */

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  xmlstate *st = (xmlstate *)ud;
  frame *f;
  int i, id;
  if (st->stop_reason) return;
  if (st->depth >= XML_MAX_DEPTH) {
    stop(st, "XML nested deeper than 64 elements");
    return;
  }
  if (++st->elements > st->max_elements) {
    stop(st, "too many elements");
    return;
  }
  {
    const char *ln = local_name(name);
    id = intern(st, ln, strlen(ln));
  }
  if (id < 0) {
    stop(st, "out of memory");
    return;
  }
  if (st->depth > 0) st->frames[st->depth].has_children = 1;
  st->depth++;
  f = &st->frames[st->depth];
  f->name = id;
  f->text_start = st->text.len;
  f->start = TAPE_LEN(st);
  f->nattrs = 0;
  f->nchildren = 0;
  f->has_children = 0;
  f->seen = 0;
  if (!tape_put(st, T_START) || !tape_put(st, id) || !tape_put(st, 0) || !tape_put(st, 0) ||
      !tape_put(st, 0)) {
    stop(st, "out of memory");
    return;
  }
  for (i = 0; atts != NULL && atts[i] != NULL; i += 2) {
    const char *an = atts[i];
    size_t vl;
    int aid;
    if (strncmp(an, "xmlns", 5) == 0 && (an[5] == '\0' || an[5] == ':')) continue;
    an = local_name(an);
    vl = strlen(atts[i + 1]);
    aid = intern(st, an, strlen(an));
    if (aid < 0 || vl > 0x7fffffff || !tape_put(st, aid) ||
        !tape_put(st, (int)kinds_under(st, aid, st->depth)) || !tape_put(st, (int)vl) ||
        !cbuf_add(&st->bytes, atts[i + 1], vl)) {
      stop(st, "out of memory");
      return;
    }
    f->nattrs++;
    f->seen |= 1ULL << (aid & 63);
  }
  TAPE(st)[f->start + 2] = f->nattrs;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  xmlstate *st = (xmlstate *)ud;
  frame *f = &st->frames[st->depth];
  const char *text = st->text.p ? st->text.p + f->text_start : "";
  size_t n = st->text.len - f->text_start;
  int is_table = f->has_children || f->nattrs > 0 || st->depth == 1;
  int *rec;
  unsigned first = 0;
  (void)name;
  if (st->stop_reason) return;
  if (st->depth > 1) { /* the first of its name in the parent? (a filter: a set bit only means maybe) */
    frame *p = &st->frames[st->depth - 1];
    unsigned long long bit = 1ULL << (f->name & 63);
    if (!(p->seen & bit)) first = K_FIRST;
    p->seen |= bit;
  }
  st->cost += is_table ? XML_COST_TABLE + XML_COST_FIELD * f->nattrs : XML_COST_FIELD + (double)n;
  if (st->cost > st->budget) {
    stop(st, "the document would take more than 6 times its size in memory");
    return;
  }
  if (is_table && (st->depth == 1 || all_space(text, n))) n = 0; /* no _text */
  if (n > 0x7fffffff || !tape_put(st, T_END) ||
      !tape_put(st, st->depth > 1 ? (int)(kinds_under(st, f->name, st->depth - 1) | first) : 0) ||
      !tape_put(st, (int)n) || !cbuf_add(&st->bytes, text, n)) {
    stop(st, "out of memory");
    return;
  }
  rec = TAPE(st) + f->start;
  rec[3] = f->nattrs + f->nchildren;
  if (rec[3] > XML_PRESIZE_MAX) rec[3] = XML_PRESIZE_MAX;
  rec[4] = is_table ? F_TABLE : 0;
  st->text.len = f->text_start;
  st->depth--;
  if (st->depth > 0) st->frames[st->depth].nchildren++;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int n) {
  xmlstate *st = (xmlstate *)ud;
  if (st->stop_reason || st->depth == 0 || n <= 0) return;
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

/* ---- building the tables from the tape --------------------------------- */

/* Pushes the typed value of text s[0..n) with the kinds of its name. */
static void push_scalar(lua_State *L, unsigned kinds, const char *s, size_t n) {
  if (kinds & (K_NUMBER | K_INTEGER)) {
    char buf[72];
    char *end;
    double d;
    size_t a = 0, b = n;
    while (a < b && is_space(s[a])) a++;
    while (b > a && is_space(s[b - 1])) b--;
    if (b > a && b - a <= 64) { /* tonumber's texts: at most 64 bytes */
      memcpy(buf, s + a, b - a);
      buf[b - a] = '\0';
      d = strtod(buf, &end);
      if (*end == '\0' && d - d == 0) { /* finite */
#if LUA_VERSION_NUM >= 503
        if ((kinds & K_INTEGER) && d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
            (double)(lua_Integer)d == d) {
          lua_pushinteger(L, (lua_Integer)d);
          return;
        }
#endif
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

/* Stores the value on top into the table at index parent under the name
 * at index `names`[id + 1]; arrays made for a repeat get the metatable at
 * automt, so that a third repeat finds them. */
static void attach(lua_State *L, int parent, int names, int id, int is_array, int first,
                   int automt) {
  if (first) { /* nothing of this name in the parent yet */
    lua_rawgeti(L, names, id + 1); /* value key */
    if (is_array) {
      lua_createtable(L, 1, 0); /* value key array */
      lua_pushvalue(L, -3);
      lua_rawseti(L, -2, 1);
      lua_rawset(L, parent); /* value */
      lua_pop(L, 1);
    } else {
      lua_insert(L, -2); /* key value */
      lua_rawset(L, parent);
    }
    return;
  }
  lua_rawgeti(L, names, id + 1); /* value key */
  lua_pushvalue(L, -1);
  lua_rawget(L, parent); /* value key old */
  if (is_array) {
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_createtable(L, 1, 0); /* value key array */
      lua_pushvalue(L, -1);
      lua_insert(L, -3); /* value array key array */
      lua_rawset(L, parent);
    } else {
      lua_remove(L, -2); /* value array */
    }
    lua_insert(L, -2); /* array value */
    lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    return;
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_insert(L, -2); /* key value */
    lua_rawset(L, parent);
    return;
  }
  /* a repeat: keep both, in an array marked as made here */
  if (lua_type(L, -1) == LUA_TTABLE && lua_getmetatable(L, -1)) {
    int marked = lua_rawequal(L, -1, automt);
    lua_pop(L, 1);
    if (marked) { /* value key array */
      lua_remove(L, -2);
      lua_insert(L, -2);
      lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
      return;
    }
  }
  lua_createtable(L, 4, 0); /* value key old array */
  lua_pushvalue(L, automt);
  lua_setmetatable(L, -2);
  lua_insert(L, -2); /* value key array old */
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, -3); /* value key array value */
  lua_rawseti(L, -2, 2);
  lua_rawset(L, parent); /* value */
  lua_pop(L, 1);
}

/*
 * The protected build: arg 1 the state (light userdata). Returns the root's
 * table. Stack: 2 the names as Lua strings, 3 the marker metatable, then one
 * slot per open element (its table, or nil for a scalar one).
 */
static int op_build(lua_State *L) {
  xmlstate *st = (xmlstate *)lua_touserdata(L, 1);
  const int *t = TAPE(st);
  size_t n = TAPE_LEN(st), i = 0;
  const char *bytes = st->bytes.p ? st->bytes.p : "";
  size_t at = 0;
  const int names = 2, automt = 3, base = 3;
  int depth = 0, k;
  int ids[XML_MAX_DEPTH + 1];
  lua_settop(L, 1);
  luaL_checkstack(L, XML_MAX_DEPTH + 20, "evcp: XML too deep");
  lua_createtable(L, st->nnames, 0);
  for (k = 0; k < st->nnames; k++) {
    lua_pushlstring(L, st->names.p + st->nm[k].off, st->nm[k].len);
    lua_rawseti(L, names, k + 1);
  }
  lua_newtable(L);
  while (i < n) {
    if (t[i] == T_START) {
      int nattrs = t[i + 2];
      ids[++depth] = t[i + 1];
      if (t[i + 4] & F_TABLE) {
        int a;
        lua_createtable(L, 0, t[i + 3]);
        i += 5;
        for (a = 0; a < nattrs; a++, i += 3) {
          unsigned kinds = (unsigned)t[i + 1];
          size_t vl = (size_t)t[i + 2];
          lua_rawgeti(L, names, t[i] + 1);
          push_scalar(L, kinds, bytes + at, vl);
          at += vl;
          if (kinds & K_ARRAY) {
            lua_createtable(L, 1, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
          }
          lua_rawset(L, -3);
        }
      } else {
        lua_pushnil(L);
        i += 5;
      }
    } else { /* T_END */
      unsigned kinds = (unsigned)t[i + 1];
      size_t tl = (size_t)t[i + 2];
      int slot = base + depth;
      const char *text = bytes + at;
      i += 3;
      at += tl;
      if (depth == 1) break; /* the root's table is in its slot */
      if (lua_isnil(L, slot)) {
        push_scalar(L, kinds, text, tl);
      } else {
        lua_pushvalue(L, slot);
        if (tl > 0) {
          lua_pushlstring(L, text, tl);
          lua_setfield(L, -2, "_text");
        }
      }
      attach(L, slot - 1, names, ids[depth], (kinds & K_ARRAY) != 0, (kinds & K_FIRST) != 0, automt);
      lua_settop(L, slot - 1);
      depth--;
    }
  }
  if (depth != 1) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, base + 1);
  return 1;
}

/* ---- the box that frees the parser and buffers whatever happens -------- */

static void box_free(xmlbox *b) {
  if (b->st != NULL) {
    if (b->st->parser != NULL) XML_ParserFree(b->st->parser);
    free(b->st->text.p);
    free(b->st->tape.p);
    free(b->st->bytes.p);
    free(b->st->names.p);
    free(b->st->nm);
    free(b->st->slots);
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
  st->schema = (const xschema *)lua_touserdata(L, 2);
  st->max_elements = max_elements;
  st->budget = XML_BUDGET_FACTOR * (double)n + XML_BUDGET_SLACK;
  /* room for the tape and texts of a typical document (a failure here only
   * means growing later) */
  (void)cbuf_reserve(&st->tape, n / 2 + 1024);
  (void)cbuf_reserve(&st->bytes, n / 2 + 1024);
  XML_SetUserData(st->parser, st);
  XML_SetElementHandler(st->parser, on_start, on_end);
  XML_SetCharacterDataHandler(st->parser, on_text);
  XML_SetStartDoctypeDeclHandler(st->parser, on_doctype);
  XML_SetEntityDeclHandler(st->parser, on_entity);
  rc = XML_Parse(st->parser, text, (int)n, 1);
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
  XML_ParserFree(st->parser); /* expat is done: its memory goes before the tables are built */
  st->parser = NULL;
  free(st->text.p);
  st->text.p = NULL;
  lua_pushcfunction(L, op_build);
  lua_pushlightuserdata(L, st);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    lua_pushnil(L);
    lua_pushfstring(L, "XML: %s", msg ? msg : "error while building tables");
    box_free(b);
    return 2;
  }
  box_free(b);
  if (lua_type(L, -1) != LUA_TTABLE) {
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
