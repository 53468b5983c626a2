/*
 * xml.c: XML documents to Lua tables, streaming with expat (no DOM).
 *
 * core.xml_decode(text, schema) follows the rules HERE's v2 JSON uses to
 * mirror its XML, so the XML path ends in the same tables the JSON path
 * decodes to:
 *   - the root element's content is the result (the root itself has no key);
 *   - attributes become fields of the element's table (xmlns declarations
 *     are dropped);
 *   - an element with neither attributes nor child elements becomes a scalar:
 *     a number when schema.numbers[name], a boolean when
 *     schema.booleans[name] and the text is true/false, else the string;
 *   - a child named in schema.arrays collects into an array under its name;
 *     any other child that repeats is turned into an array too (nothing is
 *     lost);
 *   - namespace prefixes are removed from names.
 * A DOCTYPE stops the parse (HERE's XML has none; this shuts out entity
 * expansion), element depth and input size are bounded.
 *
 * Lua work in expat's callbacks runs under lua_pcall: an error (out of
 * memory) is parked, the parser is stopped and the error is raised only
 * after expat has returned, so no longjmp crosses expat's frames.
 */
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "evcp.h"

#define EVCP_XMLBOX "evcp.XmlBox"
#define XML_MAX_DEPTH 64
#define XML_DEFAULT_MAX_SIZE (64.0 * 1024 * 1024)

typedef struct {
  char name[48];     /* local name, for the children's schema lookups */
  size_t text_start; /* offset of this element's text in the text buffer */
  int has_children;
  int has_attrs;
} frame;

typedef struct {
  XML_Parser parser;
  char *text; /* character data of the open elements, back to back */
  size_t len, cap;
  frame frames[XML_MAX_DEPTH + 1];
  int depth;
  int schema;    /* index of the schema table in the protected call's frame */
  int automt;    /* index of the marker metatable of repeat-made arrays there */
  int failed;    /* a parked error is on the stack top */
  const char *stop_reason;
  /* arguments of the protected operation */
  const char *name;
  const char **atts;
} xmlstate;

typedef struct {
  xmlstate *st;
} xmlbox;

/* ---- helpers ----------------------------------------------------------- */

static const char *local_name(const char *name) {
  const char *c = strchr(name, ':');
  return c ? c + 1 : name;
}

/*
 * schema[set][name] is true (always) or a set of parent element names (only
 * under those parents: "value" is a number under "price", text elsewhere).
 */
static int in_set(lua_State *L, xmlstate *st, const char *set, const char *name, const char *parent) {
  int r = 0;
  lua_getfield(L, st->schema, set);
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, name);
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, parent);
      r = lua_toboolean(L, -1);
      lua_pop(L, 1);
    } else {
      r = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return r;
}

static int all_space(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
  return 1;
}

/* Pushes the typed value of text s[0..n) for element/attribute name. */
static void push_scalar(lua_State *L, xmlstate *st, const char *name, const char *parent,
                        const char *s, size_t n) {
  if (in_set(L, st, "numbers", name, parent)) {
    char buf[64];
    char *end;
    double d;
    size_t a = 0, b = n;
    while (a < b && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t')) a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n' || s[b - 1] == '\r' || s[b - 1] == '\t')) b--;
    if (b > a && b - a < sizeof buf) {
      memcpy(buf, s + a, b - a);
      buf[b - a] = '\0';
      d = strtod(buf, &end);
      if (*end == '\0' && d == d && d < 1e308 && d > -1e308) {
        lua_pushnumber(L, d);
        return;
      }
    }
  } else if (in_set(L, st, "booleans", name, parent)) {
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

/* ---- protected operations (run under lua_pcall) ------------------------ */

/* args: state, schema, marker metatable; returns the new element's table */
static int op_start(lua_State *L) {
  xmlstate *st = (xmlstate *)lua_touserdata(L, 1);
  int i;
  st->schema = 2;
  st->automt = 3;
  luaL_checkstack(L, 8, "evcp: XML nested too deep");
  lua_newtable(L);
  if (st->atts != NULL) {
    for (i = 0; st->atts[i] != NULL; i += 2) {
      const char *an = st->atts[i];
      if (strncmp(an, "xmlns", 5) == 0 && (an[5] == '\0' || an[5] == ':')) continue;
      an = local_name(an);
      push_scalar(L, st, an, st->frames[st->depth].name, st->atts[i + 1], strlen(st->atts[i + 1]));
      lua_setfield(L, -2, an);
      st->frames[st->depth].has_attrs = 1;
    }
  }
  return 1;
}

/* Stores the value on top into the table at index parent under name. */
static void attach(lua_State *L, xmlstate *st, const char *name, int parent) {
  if (in_set(L, st, "arrays", name, st->frames[st->depth - 1].name)) {
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
    int marked = lua_rawequal(L, -1, st->automt);
    lua_pop(L, 1);
    if (marked) {
      lua_insert(L, -2);
      lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
      return;
    }
  }
  lua_createtable(L, 4, 0); /* value, old, array */
  lua_pushvalue(L, st->automt);
  lua_setmetatable(L, -2);
  lua_insert(L, -2); /* value, array, old */
  lua_rawseti(L, -2, 1);
  lua_insert(L, -2); /* array, value */
  lua_rawseti(L, -2, 2);
  lua_setfield(L, parent, name);
}

/* args: state, schema, marker metatable, parent table, element table */
static int op_end(lua_State *L) {
  xmlstate *st = (xmlstate *)lua_touserdata(L, 1);
  frame *f = &st->frames[st->depth];
  const char *name = local_name(st->name);
  const char *text = st->text + f->text_start;
  size_t n = st->len - f->text_start;
  st->schema = 2;
  st->automt = 3;
  if (!f->has_children && !f->has_attrs) {
    push_scalar(L, st, name, st->frames[st->depth - 1].name, text, n);
  } else {
    lua_pushvalue(L, 5);
    if (n > 0 && !all_space(text, n)) {
      lua_pushlstring(L, text, n);
      lua_setfield(L, -2, "_text");
    }
  }
  attach(L, st, name, 4);
  return 0;
}

static void stop(xmlstate *st, const char *why) {
  if (st->stop_reason == NULL) st->stop_reason = why;
  XML_StopParser(st->parser, XML_FALSE);
}

/* ---- expat callbacks ---------------------------------------------------- */

typedef struct {
  lua_State *L;
  xmlstate *st;
  int schema, automt; /* stack indices in the caller's frame */
} cbdata;

/* Parks the error message on the stack top and stops the parser. */
static void fail(cbdata *cb) {
  cb->st->failed = 1;
  XML_StopParser(cb->st->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  cbdata *cb = (cbdata *)ud;
  xmlstate *st = cb->st;
  if (st->failed || st->stop_reason) return;
  if (st->depth >= XML_MAX_DEPTH) {
    stop(st, "XML nested deeper than 64 elements");
    return;
  }
  if (st->depth > 0) st->frames[st->depth].has_children = 1;
  st->depth++;
  st->frames[st->depth].text_start = st->len;
  st->frames[st->depth].has_children = 0;
  st->frames[st->depth].has_attrs = 0;
  {
    const char *ln = local_name(name);
    size_t k = strlen(ln);
    if (k >= sizeof st->frames[0].name) k = sizeof st->frames[0].name - 1;
    memcpy(st->frames[st->depth].name, ln, k);
    st->frames[st->depth].name[k] = '\0';
  }
  st->name = name;
  st->atts = atts;
  lua_pushcfunction(cb->L, op_start);
  lua_pushlightuserdata(cb->L, st);
  lua_pushvalue(cb->L, cb->schema);
  lua_pushvalue(cb->L, cb->automt);
  if (lua_pcall(cb->L, 3, 1, 0) != LUA_OK) fail(cb);
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  cbdata *cb = (cbdata *)ud;
  xmlstate *st = cb->st;
  if (st->failed || st->stop_reason) return;
  st->name = name;
  if (st->depth > 1) { /* the root stays on the stack as the result */
    lua_State *L = cb->L;
    lua_pushcfunction(L, op_end);
    lua_pushlightuserdata(L, st);
    lua_pushvalue(L, cb->schema);
    lua_pushvalue(L, cb->automt);
    lua_pushvalue(L, -6); /* parent */
    lua_pushvalue(L, -6); /* element */
    if (lua_pcall(L, 5, 0, 0) != LUA_OK) {
      fail(cb);
      return;
    }
    lua_pop(L, 1); /* the element */
  }
  st->len = st->frames[st->depth].text_start;
  st->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int n) {
  cbdata *cb = (cbdata *)ud;
  xmlstate *st = cb->st;
  size_t need;
  if (st->failed || st->stop_reason || st->depth == 0 || n <= 0) return;
  need = st->len + (size_t)n;
  if (need > st->cap) {
    size_t cap = st->cap ? st->cap : 1024;
    char *p;
    while (cap < need) cap *= 2;
    p = (char *)realloc(st->text, cap);
    if (p == NULL) {
      stop(st, "out of memory");
      return;
    }
    st->text = p;
    st->cap = cap;
  }
  memcpy(st->text + st->len, s, (size_t)n);
  st->len = need;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
  cbdata *cb = (cbdata *)ud;
  stop(cb->st, "DOCTYPE is not allowed");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value,
                              int len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation) {
  cbdata *cb = (cbdata *)ud;
  stop(cb->st, "entity declarations are not allowed");
}

/* ---- the box that frees the parser and buffer whatever happens ---------- */

static void box_free(xmlbox *b) {
  if (b->st != NULL) {
    if (b->st->parser != NULL) XML_ParserFree(b->st->parser);
    free(b->st->text);
    free(b->st);
    b->st = NULL;
  }
}

static int box_gc(lua_State *L) {
  box_free((xmlbox *)luaL_checkudata(L, 1, EVCP_XMLBOX));
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

/*
 * core.xml_decode(text, schema [, max_size]) -> table | nil, message
 * schema: {arrays = set, numbers = set, booleans = set} of element names.
 */
static int core_xml_decode(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  lua_Number max_size = luaL_optnumber(L, 3, XML_DEFAULT_MAX_SIZE);
  xmlbox *b;
  xmlstate *st;
  cbdata cb;
  enum XML_Status rc;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  if ((lua_Number)n > max_size) {
    lua_pushnil(L);
    lua_pushfstring(L, "XML document larger than %d bytes", (int)max_size);
    return 2;
  }
  b = new_box(L); /* 3 */
  st = b->st;
  lua_newtable(L); /* 4: marker metatable for repeat-made arrays */
  luaL_checkstack(L, XML_MAX_DEPTH + 20, "evcp: XML too deep");
  cb.L = L;
  cb.st = st;
  cb.schema = 2;
  cb.automt = 4;
  XML_SetUserData(st->parser, &cb);
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
    if (st->stop_reason != NULL)
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
  if (lua_gettop(L) != 5 || lua_type(L, 5) != LUA_TTABLE) {
    lua_settop(L, 0);
    lua_pushnil(L);
    lua_pushliteral(L, "XML: the root element has no content");
    return 2;
  }
  return 1;
}

static void XMLCALL noop_start(void *ud, const XML_Char *name, const XML_Char **atts) {}
static void XMLCALL noop_end(void *ud, const XML_Char *name) {}
static void XMLCALL noop_text(void *ud, const XML_Char *s, int n) {}

/* core.xml_scan(text) -> true | nil, message: expat parse with empty handlers
 * (the floor of the XML benchmark). */
static int core_xml_scan(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  xmlbox *b = new_box(L);
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
  static const luaL_Reg meta[] = {{"__gc", box_gc}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
      {"xml_decode", core_xml_decode}, {"xml_scan", core_xml_scan}, {NULL, NULL}};
  luaL_newmetatable(L, EVCP_XMLBOX);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
