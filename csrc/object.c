/*
 * object.c: the v3 object model (Location, Evse, Connector, ConnectorGroup,
 * Tariff) as views over decoded documents.
 *
 * A view is a small userdata whose user values hold the decoded table it
 * shows (private: never handed out) and its parent view (none for a
 * Location), which keeps the parent alive as long as the child is. On Lua
 * 5.4 these are user values 1 and 2; on LuaJIT, which has one environment
 * table per userdata, a Location's environment is its document itself and a
 * child's is {document, parent}, or, for the children an iterator or a
 * Location's connectorGroups makes, one {array, parent} they all share, each
 * child holding its position in the array (view.index; the documents are
 * never changed, so the position keeps naming the same node). Making objects
 * costs one userdata per object (plus one table per array on LuaJIT) and no
 * second copy of the data.
 *
 * Reading a field: a scalar comes straight from the document (integral
 * numbers as integers on 5.4, JSON null as nil). A nested table comes from a
 * per-node cache: the first read makes a deep plain copy of that node and
 * every later read, through any view of the same document, returns the same
 * copy, so `loc.location == loc.location` and walking costs one copy per node,
 * not one per read. Why a cache of plain tables and not read-only proxies:
 * LuaJIT honours neither __len, __pairs nor __ipairs on tables, so a proxy
 * would make `#t`, `pairs` and `ipairs` silently see an empty table there;
 * plain copies behave the same on both runtimes. The cache is one weak-keyed
 * table keyed by the document's own node (the copy never refers to its key,
 * so LuaJIT's non-ephemeron weak tables let both go with the document). The
 * copies are shared: changing one changes what later reads of that node
 * return, never the document (totable, tojson, iterators and tostring read
 * the document). Objects themselves are read-only: assigning a field raises.
 *
 * Every function reachable from a metatable checks its self, and misuse
 * errors name the method ("evcp.Location:evse: ...").
 *
 * Speed (issue 7 section 6, measured with callgrind on the v3-traverse walk):
 * __index stays a C function on LuaJIT too. Two Lua versions the JIT could
 * compile were slower: one reading fields through a weak view -> node table
 * (recording every new view in it cost more than the C calls it saved), and
 * one finding only the methods in Lua before calling C (trace stitching
 * around the C call). Child iterators stay lazy for the same reason: making
 * all children at once and stepping in Lua cost more than one C call a step.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evcp.h"

/* tojson refuses a document with a string (or key) longer than this, or
 * whose strings total more than EVCP_JSON_MAX_TOTAL: lua-cjson 2.1.0 sizes
 * its buffer as 6 * length + 2 in an int and overflows it past ~358 MB. */
#define EVCP_JSON_MAX_STRING (64 * 1024 * 1024)
#define EVCP_JSON_MAX_TOTAL (256 * 1024 * 1024)

#define CACHE_KEY "evcp.nodecache"
#define ENCODER_KEY "evcp.json_encode"

typedef struct {
  int has_parent; /* the rest of a view's state is in its user values */
  int index;      /* LuaJIT: > 0 when the environment is a shared {array, parent} */
} view;

/* The view classes. Their metatables are also in the registry under the
 * addresses of class_keys[], so that making a view or checking one costs a
 * pointer lookup, not a string lookup. */
typedef enum { C_LOCATION, C_EVSE, C_CONNECTOR, C_GROUP, C_TARIFF, C_COUNT } vclass;
static const char *const class_names[] = {EVCP_LOCATION, EVCP_EVSE, EVCP_CONNECTOR,
                                          EVCP_CONNECTOR_GROUP, EVCP_TARIFF};
static char class_keys[C_COUNT];

static void push_mt(lua_State *L, vclass c) {
  lua_pushlightuserdata(L, &class_keys[c]);
  lua_rawget(L, LUA_REGISTRYINDEX);
}

/* 1 when the value at idx is a view of class c. */
static int is_class(lua_State *L, int idx, vclass c) {
  int r;
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return 0;
  push_mt(L, c);
  r = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return r;
}

static void check_self(lua_State *L, vclass c, const char *fname) {
  if (!is_class(L, 1, c))
    evcp_error(L, "%s: self must be an %s (call it with ':'), got %s", fname, class_names[c],
               luaL_typename(L, 1));
}

/* check_self for a method of class c (its upvalue 1 is the class's
 * metatable: see new_view_class), without the registry lookup. */
static void check_method(lua_State *L, vclass c, const char *fname) {
  int ok = 0;
  if (lua_type(L, 1) == LUA_TUSERDATA && lua_getmetatable(L, 1)) {
    ok = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
  }
  if (!ok)
    evcp_error(L, "%s: self must be an %s (call it with ':'), got %s", fname, class_names[c],
               luaL_typename(L, 1));
}

static int is_jsonnull(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

static int absindex(lua_State *L, int idx) {
  return (idx < 0 && idx > LUA_REGISTRYINDEX) ? lua_gettop(L) + idx + 1 : idx;
}

/* ---- views ---------------------------------------------------------------- */

/* Pushes a new view of class `cls` over the table at data_idx with the parent
 * at parent_idx (0 for none). */
static void push_view(lua_State *L, vclass cls, int data_idx, int parent_idx) {
  view *v;
  data_idx = absindex(L, data_idx);
  parent_idx = absindex(L, parent_idx);
#if LUA_VERSION_NUM < 502
  v = (view *)lua_newuserdata(L, sizeof(view));
  v->has_parent = parent_idx != 0;
  v->index = 0;
  push_mt(L, cls);
  lua_setmetatable(L, -2);
  if (parent_idx != 0) {
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, data_idx);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, parent_idx);
    lua_rawseti(L, -2, 2);
  } else {
    lua_pushvalue(L, data_idx);
  }
  lua_setfenv(L, -2);
#else
  /* user value 2: the parent, or for a view without one (a Location) the
   * note core.note leaves (evcp.response's record of the exchange) */
  v = (view *)lua_newuserdatauv(L, sizeof(view), 2);
  v->has_parent = parent_idx != 0;
  push_mt(L, cls);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, data_idx);
  lua_setiuservalue(L, -2, 1);
  if (parent_idx != 0) {
    lua_pushvalue(L, parent_idx);
    lua_setiuservalue(L, -2, 2);
  }
#endif
}

/* Pushes the parent view of the view at idx (nil for a Location). */
static void push_parent(lua_State *L, int idx) {
  view *v = (view *)lua_touserdata(L, idx);
  if (v == NULL || !v->has_parent) {
    lua_pushnil(L);
    return;
  }
#if LUA_VERSION_NUM < 502
  lua_getfenv(L, idx);
  lua_rawgeti(L, -1, 2);
  lua_remove(L, -2);
#else
  lua_getiuservalue(L, idx, 2);
#endif
}

/* Pushes the document of the view at idx (a checked view). */
static void push_data(lua_State *L, int idx) {
#if LUA_VERSION_NUM < 502
  view *v = (view *)lua_touserdata(L, idx);
  lua_getfenv(L, idx);
  if (v->has_parent) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    if (v->index > 0) {
      lua_rawgeti(L, -1, v->index);
      lua_remove(L, -2);
    }
  }
#else
  lua_getiuservalue(L, idx, 1);
#endif
}

#if LUA_VERSION_NUM < 502
/* LuaJIT: pushes {array at arr_idx, parent view at parent_idx}, the one
 * environment that the views push_sibling makes over that array share (a
 * table per child would be most of what making a child costs). */
static void push_siblings_env(lua_State *L, int arr_idx, int parent_idx) {
  arr_idx = absindex(L, arr_idx);
  parent_idx = absindex(L, parent_idx);
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, arr_idx);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, parent_idx);
  lua_rawseti(L, -2, 2);
}

/* LuaJIT: pushes a new view with the class metatable at mt_idx over
 * element i (a table) of the array of the siblings environment at env_idx. */
static void push_sibling(lua_State *L, int mt_idx, int env_idx, int i) {
  view *v;
  mt_idx = absindex(L, mt_idx);
  env_idx = absindex(L, env_idx);
  v = (view *)lua_newuserdata(L, sizeof(view));
  v->has_parent = 1;
  v->index = i;
  lua_pushvalue(L, mt_idx);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, env_idx);
  lua_setfenv(L, -2);
}
#endif

/* Checks that index 1 is a view of any class. */
static void check_view(lua_State *L, const char *method) {
  int i;
  for (i = 0; i < C_COUNT; i++)
    if (is_class(L, 1, (vclass)i)) return;
  evcp_error(L, "evcp:%s: self must be an evcp object (Location, Evse, Connector, "
                "ConnectorGroup or Tariff; call it with ':'), got %s",
             method, luaL_typename(L, 1));
}

/* Pushes the cached plain copy of the document node at idx (a table); the
 * cache is at cache_idx. */
static void push_cached(lua_State *L, int idx, int cache_idx) {
  idx = absindex(L, idx);
  lua_pushvalue(L, cache_idx);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  evcp_pushcopy(L, idx, 0);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
}

/* Pushes a plain array of child views built from the array at arr_idx. */
static void push_children(lua_State *L, vclass cls, int arr_idx, int parent_idx) {
  int i, n;
  arr_idx = absindex(L, arr_idx);
  n = (int)lua_rawlen(L, arr_idx);
#if LUA_VERSION_NUM < 502
  push_mt(L, cls);
  push_siblings_env(L, arr_idx, parent_idx);
#endif
  lua_createtable(L, n, 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, arr_idx, i);
    if (lua_type(L, -1) == LUA_TTABLE) {
#if LUA_VERSION_NUM < 502
      push_sibling(L, -4, -3, i);
#else
      push_view(L, cls, -1, parent_idx);
#endif
      lua_rawseti(L, -3, i);
    }
    lua_pop(L, 1);
  }
#if LUA_VERSION_NUM < 502
  lua_replace(L, -3); /* the array where the metatable was */
  lua_pop(L, 1);
#endif
}

/*
 * __index of every view class. Upvalues: 1 the methods table, 2 the class's
 * metatable (the self check), 3 the class name, 4 true for a Location (its
 * connectorGroups is the one array read as objects), 5 the node cache.
 */
static int view_index(lua_State *L) {
  int t;
#if LUA_VERSION_NUM < 502
  view *v;
#endif
  if (lua_gettop(L) != 2) lua_settop(L, 2);
  if (lua_type(L, 1) != LUA_TUSERDATA || !lua_getmetatable(L, 1) ||
      !lua_rawequal(L, -1, lua_upvalueindex(2)))
    return evcp_error(L, "%s.__index: self must be an %s, got %s",
                      lua_tostring(L, lua_upvalueindex(3)), lua_tostring(L, lua_upvalueindex(3)),
                      luaL_typename(L, 1));
  /* the hot path: few API calls, and what is left below the top is not popped */
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1)); /* a method? */
  if (lua_type(L, -1) != LUA_TNIL) return 1;
#if LUA_VERSION_NUM < 502
  v = (view *)lua_touserdata(L, 1);
  lua_getfenv(L, 1);
  if (v->has_parent) {
    lua_rawgeti(L, -1, 1);
    if (v->index > 0) lua_rawgeti(L, -1, v->index);
  }
#else
  lua_getiuservalue(L, 1, 1);
#endif
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  t = lua_type(L, -1);
  switch (t) {
  case LUA_TTABLE:
    if (!lua_isnil(L, lua_upvalueindex(4)) && lua_type(L, 2) == LUA_TSTRING &&
        strcmp(lua_tostring(L, 2), "connectorGroups") == 0) {
      push_children(L, C_GROUP, -1, 1);
      return 1;
    }
    push_cached(L, -1, lua_upvalueindex(5));
    return 1;
  case LUA_TLIGHTUSERDATA:
    if (is_jsonnull(L, -1)) lua_pushnil(L);
    return 1;
  case LUA_TNUMBER:
    evcp_pushnormal(L, -1);
    return 1;
  default:
    return 1;
  }
}

static int view_newindex(lua_State *L) {
  const char *cls = "evcp object";
  check_view(L, "__newindex");
  if (luaL_getmetafield(L, 1, "__name") && lua_type(L, -1) == LUA_TSTRING) cls = lua_tostring(L, -1);
  return evcp_error(L, "%s is read-only (field '%s')", cls,
                    lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* obj:totable() -> a deep plain copy equal to the HERE JSON object. */
static int view_totable(lua_State *L) {
  check_view(L, "totable");
  push_data(L, 1);
  evcp_pushcopy(L, -1, 0);
  return 1;
}

/* Like evcp_pushcopy, adding up the lengths of strings (keys too) in *total;
 * refuses a string longer than EVCP_JSON_MAX_STRING. */
static void push_json_copy(lua_State *L, int idx, int depth, size_t *total) {
  size_t n;
  if (lua_type(L, idx) == LUA_TSTRING) {
    lua_tolstring(L, idx, &n);
    if (n > EVCP_JSON_MAX_STRING)
      evcp_error(L, "evcp:tojson: a string of %d bytes is longer than tojson writes (%d bytes)",
                 (int)(n > 0x7fffffff ? 0x7fffffff : n), EVCP_JSON_MAX_STRING);
    *total += n;
    lua_pushvalue(L, idx);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE) {
    evcp_pushnormal(L, idx);
    return;
  }
  if (depth > EVCP_MAX_DEPTH)
    evcp_error(L, "evcp:tojson: document nested deeper than %d levels", EVCP_MAX_DEPTH);
  luaL_checkstack(L, 6, "evcp: document too deep");
  idx = absindex(L, idx);
  lua_createtable(L, (int)lua_rawlen(L, idx), 0);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    push_json_copy(L, -2, depth + 1, total);
    push_json_copy(L, -2, depth + 1, total);
    lua_rawset(L, -5);
    lua_pop(L, 1);
  }
}

/* Pushes the JSON encoder: the one set by core.set_json_encoder, else
 * evcp.json's encode_document (found once, then kept). */
static void push_encoder(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, ENCODER_KEY);
  if (lua_isfunction(L, -1)) return;
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "evcp.json");
  lua_call(L, 1, 1);
  if (lua_type(L, -1) == LUA_TTABLE) lua_getfield(L, -1, "encode_document");
  else lua_pushnil(L);
  if (!lua_isfunction(L, -1)) evcp_error(L, "evcp:tojson: evcp.json has no encode_document");
  lua_remove(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, ENCODER_KEY);
}

/* obj:tojson() -> the object encoded as JSON by evcp's private encoder. */
static int view_tojson(lua_State *L) {
  size_t total = 0;
  check_view(L, "tojson");
  lua_settop(L, 1);
  push_encoder(L); /* 2 */
  push_data(L, 1);
  push_json_copy(L, -1, 0, &total);
  lua_remove(L, -2);
  if (total > EVCP_JSON_MAX_TOTAL)
    return evcp_error(L, "evcp:tojson: the document's strings total more than %d bytes",
                      EVCP_JSON_MAX_TOTAL);
  lua_call(L, 1, 1);
  return 1;
}

/* Pushes the nearest view of class cls among the view at idx and its
 * ancestors, or nil. */
static void push_ancestor(lua_State *L, int idx, vclass cls) {
  int i;
  lua_pushvalue(L, idx);
  for (i = 0; i < 3; i++) {
    if (is_class(L, -1, cls)) return;
    if (lua_type(L, -1) != LUA_TUSERDATA) break;
    push_parent(L, -1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
}

/* x:charging_location() -> the Location an Evse, Connector, group or Tariff
 * belongs to. */
static int evse_location(lua_State *L) {
  check_self(L, C_EVSE, "evcp.Evse:charging_location");
  push_ancestor(L, 1, C_LOCATION);
  return 1;
}

static int connector_location(lua_State *L) {
  check_self(L, C_CONNECTOR, "evcp.Connector:charging_location");
  push_ancestor(L, 1, C_LOCATION);
  return 1;
}

static int group_location(lua_State *L) {
  check_self(L, C_GROUP, "evcp.ConnectorGroup:charging_location");
  push_ancestor(L, 1, C_LOCATION);
  return 1;
}

static int tariff_location(lua_State *L) {
  check_self(L, C_TARIFF, "evcp.Tariff:charging_location");
  push_ancestor(L, 1, C_LOCATION);
  return 1;
}

/* conn:evse() -> the Evse a Connector belongs to */
static int connector_evse(lua_State *L) {
  check_self(L, C_CONNECTOR, "evcp.Connector:evse");
  push_ancestor(L, 1, C_EVSE);
  return 1;
}

/* Iterator over child views: upvalues (parent view, array, next index,
 * class; on LuaJIT the class's metatable, and 5 the children's shared
 * environment). */
static int children_iter(lua_State *L) {
  lua_Integer i = (lua_Integer)lua_tonumber(L, lua_upvalueindex(3));
#if LUA_VERSION_NUM >= 502
  vclass cls = (vclass)lua_tointeger(L, lua_upvalueindex(4));
#endif
  for (;;) {
    i++;
    lua_rawgeti(L, lua_upvalueindex(2), (int)i);
    if (lua_isnil(L, -1)) return 0;
    if (lua_type(L, -1) == LUA_TTABLE) break;
    lua_pop(L, 1);
  }
  lua_pushnumber(L, (lua_Number)i);
  lua_replace(L, lua_upvalueindex(3));
#if LUA_VERSION_NUM < 502
  push_sibling(L, lua_upvalueindex(4), lua_upvalueindex(5), (int)i);
#else
  push_view(L, cls, -1, lua_upvalueindex(1));
#endif
  return 1;
}

static int push_iterator(lua_State *L, vclass cls, const char *field) {
  lua_settop(L, 1);
  push_data(L, 1);
  lua_getfield(L, -1, field);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  lua_pushvalue(L, 1);
  lua_insert(L, -2);
  lua_pushnumber(L, 0);
#if LUA_VERSION_NUM < 502
  push_mt(L, cls);
  push_siblings_env(L, -3, -4);
  lua_pushcclosure(L, children_iter, 5);
#else
  lua_pushinteger(L, (lua_Integer)cls);
  lua_pushcclosure(L, children_iter, 4);
#endif
  return 1;
}

/* loc:evses() -> iterator over Evse objects */
static int location_evses(lua_State *L) {
  check_method(L, C_LOCATION, "evcp.Location:evses");
  return push_iterator(L, C_EVSE, "evses");
}

/* loc:connector_groups() -> iterator over ConnectorGroup objects */
static int location_groups(lua_State *L) {
  check_method(L, C_LOCATION, "evcp.Location:connector_groups");
  return push_iterator(L, C_GROUP, "connectorGroups");
}

/* loc:tariffs() -> iterator over Tariff objects */
static int location_tariffs(lua_State *L) {
  check_method(L, C_LOCATION, "evcp.Location:tariffs");
  return push_iterator(L, C_TARIFF, "tariffs");
}

/* Pushes the index-th element of field `list` of the document at data_idx
 * that is a table whose field `key` equals the value at key_idx, or nothing
 * (returns 0). keys: NULL-terminated field names tried in order. */
static int find_in(lua_State *L, int data_idx, const char *list, const char *const *keys,
                   int key_idx) {
  int i, k, n, arr;
  data_idx = absindex(L, data_idx);
  key_idx = absindex(L, key_idx);
  lua_getfield(L, data_idx, list);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  arr = lua_gettop(L);
  n = (int)lua_rawlen(L, arr);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, arr, i);
    if (lua_type(L, -1) == LUA_TTABLE) {
      for (k = 0; keys[k] != NULL; k++) {
        lua_getfield(L, -1, keys[k]);
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawequal(L, -1, key_idx)) {
          lua_pop(L, 1);
          lua_remove(L, arr);
          return 1;
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

/* loc:evse(key) -> the Evse whose uid, id or evseId equals key, or nil */
static int location_evse(lua_State *L) {
  static const char *const keys[] = {"uid", "id", "evseId", NULL};
  check_self(L, C_LOCATION, "evcp.Location:evse");
  if (lua_type(L, 2) != LUA_TSTRING)
    return evcp_error(L, "evcp.Location:evse: argument #1 (key) must be a string, got %s",
                      luaL_typename(L, 2));
  lua_settop(L, 2);
  push_data(L, 1); /* 3 */
  if (!find_in(L, 3, "evses", keys, 2)) return 0;
  push_view(L, C_EVSE, -1, 1);
  return 1;
}

/* evse:connectors() -> iterator over Connector objects */
static int evse_connectors(lua_State *L) {
  check_method(L, C_EVSE, "evcp.Evse:connectors");
  return push_iterator(L, C_CONNECTOR, "connectors");
}

/* Iterator over the array upvalue 1 (holes skipped): upvalue 2 the position. */
static int list_iter(lua_State *L) {
  lua_Integer i = (lua_Integer)lua_tonumber(L, lua_upvalueindex(2));
  lua_Integer n = (lua_Integer)lua_rawlen(L, lua_upvalueindex(1));
  while (++i <= n) {
    lua_rawgeti(L, lua_upvalueindex(1), (int)i);
    if (!lua_isnil(L, -1)) {
      lua_pushnumber(L, (lua_Number)i);
      lua_replace(L, lua_upvalueindex(2));
      return 1;
    }
    lua_pop(L, 1);
  }
  lua_pushnumber(L, (lua_Number)n);
  lua_replace(L, lua_upvalueindex(2));
  return 0;
}

/* Replaces the array on top with an iterator over it. */
static int push_list_iterator(lua_State *L) {
  lua_pushnumber(L, 0);
  lua_pushcclosure(L, list_iter, 2);
  return 1;
}

/*
 * group:connectors() -> iterator over the Connector objects the group's
 * references ({evseUid, connectorIds}) name: each referenced EVSE (matched by
 * uid) of the group's location, then its connectors whose id is listed, in
 * the EVSE's order. HERE sends the references only when `evses` was asked for
 * along with `connectorGroups`; otherwise the iterator is empty.
 */
static int group_connectors(lua_State *L) {
  static const char *const uid[] = {"uid", NULL};
  int refs, r, nrefs, out, count = 0;
  check_self(L, C_GROUP, "evcp.ConnectorGroup:connectors");
  lua_settop(L, 1);
  lua_newtable(L); /* 2: the result */
  out = 2;
  push_ancestor(L, 1, C_LOCATION); /* 3 */
  push_data(L, 1);                    /* 4 */
  lua_getfield(L, 4, "connectors");   /* 5 */
  refs = 5;
  if (lua_isnil(L, 3) || lua_type(L, refs) != LUA_TTABLE) {
    lua_settop(L, 2);
    return push_list_iterator(L);
  }
  push_data(L, 3); /* 6: the location's document */
  nrefs = (int)lua_rawlen(L, refs);
  luaL_checkstack(L, 10, "evcp: out of stack");
  for (r = 1; r <= nrefs; r++) {
    int base = lua_gettop(L);
    lua_rawgeti(L, refs, r); /* base+1: ref */
    if (lua_type(L, base + 1) == LUA_TTABLE) {
      lua_getfield(L, base + 1, "evseUid");  /* base+2 */
      lua_getfield(L, base + 1, "connectorIds"); /* base+3 */
      if (lua_type(L, base + 2) == LUA_TSTRING && lua_type(L, base + 3) == LUA_TTABLE &&
          find_in(L, 6, "evses", uid, base + 2)) { /* base+4: evse document */
        int j, nc, k, nids = (int)lua_rawlen(L, base + 3);
        push_view(L, C_EVSE, base + 4, 3); /* base+5 */
        lua_getfield(L, base + 4, "connectors"); /* base+6 */
        nc = lua_type(L, base + 6) == LUA_TTABLE ? (int)lua_rawlen(L, base + 6) : 0;
        for (j = 1; j <= nc; j++) {
          lua_rawgeti(L, base + 6, j); /* base+7 */
          if (lua_type(L, base + 7) == LUA_TTABLE) {
            lua_getfield(L, base + 7, "id"); /* base+8 */
            for (k = 1; k <= nids; k++) {
              lua_rawgeti(L, base + 3, k);
              if (lua_type(L, -1) == LUA_TSTRING && lua_rawequal(L, -1, base + 8)) {
                lua_pop(L, 1);
                push_view(L, C_CONNECTOR, base + 7, base + 5);
                lua_rawseti(L, out, ++count);
                break;
              }
              lua_pop(L, 1);
            }
          }
          lua_settop(L, base + 6);
        }
      }
    }
    lua_settop(L, base);
  }
  lua_settop(L, 2);
  return push_list_iterator(L);
}

/*
 * conn:tariffs() / group:tariffs() -> iterator over the Tariff objects the
 * object's tariffIndexes (0-based) point at in its location's tariffs.
 */
static int indexed_tariffs_iter(lua_State *L) {
  /* upvalues: location view, location tariffs array, indexes array, position */
  lua_Integer pos = (lua_Integer)lua_tonumber(L, lua_upvalueindex(4));
  for (;;) {
    lua_Number ix;
    pos++;
    lua_rawgeti(L, lua_upvalueindex(3), (int)pos);
    if (lua_isnil(L, -1)) return 0;
    ix = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (ix >= 0 && ix < 2147483647.0 && floor(ix) == ix) {
      lua_rawgeti(L, lua_upvalueindex(2), (int)ix + 1);
      if (lua_type(L, -1) == LUA_TTABLE) break;
      lua_pop(L, 1);
    }
  }
  lua_pushnumber(L, (lua_Number)pos);
  lua_replace(L, lua_upvalueindex(4));
  push_view(L, C_TARIFF, -1, lua_upvalueindex(1));
  return 1;
}

static int push_indexed_tariffs(lua_State *L) {
  lua_settop(L, 1);
  push_ancestor(L, 1, C_LOCATION); /* 2 */
  if (lua_isnil(L, 2)) {
    lua_newtable(L);
  } else {
    push_data(L, 2);
    lua_getfield(L, -1, "tariffs");
    lua_remove(L, -2);
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
  } /* 3 */
  push_data(L, 1);
  lua_getfield(L, -1, "tariffIndexes");
  lua_remove(L, -2);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  } /* 4 */
  lua_pushnumber(L, 0);
  lua_pushcclosure(L, indexed_tariffs_iter, 4);
  return 1;
}

static int connector_tariffs(lua_State *L) {
  check_self(L, C_CONNECTOR, "evcp.Connector:tariffs");
  return push_indexed_tariffs(L);
}

static int group_tariffs(lua_State *L) {
  check_self(L, C_GROUP, "evcp.ConnectorGroup:tariffs");
  return push_indexed_tariffs(L);
}

/* ---- __tostring -------------------------------------------------------- */

static const char *field_str(lua_State *L, int data_idx, const char *k, const char *dflt) {
  const char *s;
  lua_getfield(L, data_idx, k);
  s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : dflt;
  lua_pop(L, 1); /* the string stays alive: it is anchored in the data table */
  return s;
}

/* Pushes field k of the table at data_idx as text: a number in %.14g (any
 * double, no integer conversion), a string as is, else dflt. */
static void push_field_text(lua_State *L, int data_idx, const char *k, const char *dflt) {
  lua_getfield(L, data_idx, k);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.14g", (double)lua_tonumber(L, -1));
    lua_pop(L, 1);
    lua_pushstring(L, buf);
  } else if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushstring(L, dflt);
  }
}

static int location_tostring(lua_State *L) {
  check_self(L, C_LOCATION, "evcp.Location.__tostring");
  push_data(L, 1);
  lua_pushfstring(L, "%s: %s (%s)", EVCP_LOCATION, field_str(L, 2, "id", "?"),
                  field_str(L, 2, "name", "unnamed"));
  return 1;
}

static int evse_tostring(lua_State *L) {
  check_self(L, C_EVSE, "evcp.Evse.__tostring");
  push_data(L, 1);
  lua_pushfstring(L, "%s: %s (%s)", EVCP_EVSE,
                  field_str(L, 2, "evseId", field_str(L, 2, "uid", "?")),
                  field_str(L, 2, "status", "no status"));
  return 1;
}

static void push_power(lua_State *L, int data_idx) {
  char buf[64];
  lua_getfield(L, data_idx, "maxPower");
  if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "unknown power");
    return;
  }
  snprintf(buf, sizeof buf, "%.15g kW", (double)(lua_tonumber(L, -1) / 1000.0));
  lua_pop(L, 1);
  lua_pushstring(L, buf);
}

static int connector_tostring(lua_State *L) {
  check_self(L, C_CONNECTOR, "evcp.Connector.__tostring");
  push_data(L, 1);
  push_power(L, 2);
  lua_pushfstring(L, "%s: %s %s %s, %s", EVCP_CONNECTOR, field_str(L, 2, "standard", "?"),
                  field_str(L, 2, "format", "?"), field_str(L, 2, "powerType", "?"),
                  lua_tostring(L, 3));
  return 1;
}

static int group_tostring(lua_State *L) {
  check_self(L, C_GROUP, "evcp.ConnectorGroup.__tostring");
  lua_settop(L, 1);
  push_data(L, 1);                                      /* 2 */
  push_power(L, 2);                                     /* 3 */
  push_field_text(L, 2, "connectorCount", "?");         /* 4 */
  push_field_text(L, 2, "availableConnectorCount", ""); /* 5 */
  if (lua_tostring(L, 5)[0] == '\0')
    lua_pushfstring(L, "%s: %s, %s, %s connectors", EVCP_CONNECTOR_GROUP,
                    field_str(L, 2, "standard", "?"), lua_tostring(L, 3), lua_tostring(L, 4));
  else
    lua_pushfstring(L, "%s: %s, %s, %s of %s available", EVCP_CONNECTOR_GROUP,
                    field_str(L, 2, "standard", "?"), lua_tostring(L, 3), lua_tostring(L, 5),
                    lua_tostring(L, 4));
  return 1;
}

static int tariff_tostring(lua_State *L) {
  check_self(L, C_TARIFF, "evcp.Tariff.__tostring");
  push_data(L, 1);
  lua_pushfstring(L, "%s: %s %s %s (%s)", EVCP_TARIFF, field_str(L, 2, "type", "adhoc"),
                  field_str(L, 2, "partner", "?"), field_str(L, 2, "name", "unnamed"),
                  field_str(L, 2, "currency", "?"));
  return 1;
}

/* ---- building views from decoded documents ----------------------------- */

/* The keys the readers check, pushed once per core.location(s) call (slots
 * keys + K_*) and read with lua_rawget: lua_getfield would make each key
 * string again (hash and intern) for every EVSE. */
enum { K_ID, K_LOCATION, K_LAT, K_LNG, K_EVSES, K_CONNECTORS, K_GROUPS, K_TARIFFS, K_COUNT };
static const char *const key_names[K_COUNT] = {"id",  "location",   "lat",             "lng",
                                               "evses", "connectors", "connectorGroups", "tariffs"};

/* Pushes the K_COUNT keys; returns the slot of the first. */
static int push_keys(lua_State *L) {
  int i;
  luaL_checkstack(L, K_COUNT + 8, "evcp: out of stack");
  for (i = 0; i < K_COUNT; i++) lua_pushstring(L, key_names[i]);
  return lua_gettop(L) - K_COUNT + 1;
}

/* Pushes field key_names[k] of the table at idx (an absolute index); returns
 * its type. */
static int get_key(lua_State *L, int idx, int keys, int k) {
  lua_pushvalue(L, keys + k);
  lua_rawget(L, idx);
  return lua_type(L, -1);
}

/* The path of a location in messages: "location", or "items[i]" (item i). */
static void path_of(char path[32], int item) {
  if (item > 0) snprintf(path, 32, "items[%d]", item);
  else memcpy(path, "location", sizeof "location");
}

/*
 * Checks that field k of the table at idx (absolute), when present, is an
 * array of objects. On failure pushes a message naming the path (path, then
 * ".evses[at]" when at > 0, then ".k") and returns 0. The path is formatted
 * only on failure: this runs for every EVSE of every location parsed.
 */
static int check_object_array(lua_State *L, int idx, int keys, int k, int item, int at) {
  int i, n, arr, t = get_key(L, idx, keys, k);
  const char *name = key_names[k];
  char path[32];
  if (t == LUA_TNIL || (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL)) {
    lua_pop(L, 1);
    return 1;
  }
  if (t != LUA_TTABLE) {
    lua_pop(L, 1);
    path_of(path, item);
    if (at > 0) lua_pushfstring(L, "%s.evses[%d].%s: expected an array", path, at, name);
    else lua_pushfstring(L, "%s.%s: expected an array", path, name);
    return 0;
  }
  arr = lua_gettop(L);
  n = (int)lua_rawlen(L, arr);
  if (n == 0) { /* an empty array, or a JSON object where the array belongs */
    lua_pushnil(L);
    if (lua_next(L, arr) != 0) {
      lua_pop(L, 3);
      path_of(path, item);
      if (at > 0) lua_pushfstring(L, "%s.evses[%d].%s: expected an array", path, at, name);
      else lua_pushfstring(L, "%s.%s: expected an array", path, name);
      return 0;
    }
  }
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, arr, i);
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 2);
      path_of(path, item);
      if (at > 0) lua_pushfstring(L, "%s.evses[%d].%s[%d]: expected an object", path, at, name, i);
      else lua_pushfstring(L, "%s.%s[%d]: expected an object", path, name, i);
      return 0;
    }
    if (k == K_EVSES && at == 0 && !check_object_array(L, arr + 1, keys, K_CONNECTORS, item, i)) {
      lua_insert(L, -3); /* message below the array and the element */
      lua_pop(L, 2);
      return 0;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 1;
}

static int check_coordinate(lua_State *L, int idx, int keys, int k, lua_Number limit) {
  lua_Number v;
  int ok = get_key(L, idx, keys, k) == LUA_TNUMBER;
  v = lua_tonumber(L, -1);
  ok = ok && v >= -limit && v <= limit;
  lua_pop(L, 1);
  return ok;
}

/*
 * Validates the table at idx as a ChargingLocation (keys: see push_keys).
 * Returns 1, or pushes a message and returns 0.
 */
static int check_location(lua_State *L, int idx, int keys, int item) {
  char path[32];
  int t;
  idx = absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) {
    path_of(path, item);
    lua_pushfstring(L, "%s: expected a location object", path);
    return 0;
  }
  t = get_key(L, idx, keys, K_ID);
  lua_pop(L, 1);
  if (t != LUA_TSTRING) {
    path_of(path, item);
    lua_pushfstring(L, "%s.id: expected a string", path);
    return 0;
  }
  t = get_key(L, idx, keys, K_LOCATION);
  if (t != LUA_TTABLE) {
    lua_pop(L, 1);
    path_of(path, item);
    lua_pushfstring(L, "%s.location: expected an object", path);
    return 0;
  }
  if (!check_coordinate(L, lua_gettop(L), keys, K_LAT, 90) ||
      !check_coordinate(L, lua_gettop(L), keys, K_LNG, 180)) {
    lua_pop(L, 1);
    path_of(path, item);
    lua_pushfstring(L, "%s.location: expected lat in -90..90 and lng in -180..180", path);
    return 0;
  }
  lua_pop(L, 1);
  return check_object_array(L, idx, keys, K_EVSES, item, 0) &&
         check_object_array(L, idx, keys, K_GROUPS, item, 0) &&
         check_object_array(L, idx, keys, K_TARIFFS, item, 0);
}

/*
 * core.location(doc) -> Location | nil, message
 * Wraps a decoded ChargingLocation table (which evcp then owns).
 */
static int core_location(lua_State *L) {
  lua_settop(L, 1);
  if (!check_location(L, 1, push_keys(L), 0)) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  push_view(L, C_LOCATION, 1, 0);
  return 1;
}

/*
 * core.note(v, rec) -> true | false: leaves rec (a table) on v when v is a
 * view without a parent (a Location) in Lua 5.4, where it has a slot for
 * it; false for anything else (and in LuaJIT), where the caller keeps rec
 * elsewhere (evcp.response's weak table). A slot beats a weak-keyed table:
 * nothing for the collector to clear, nothing to rehash.
 * core.noted(v) -> rec | nil: what core.note left on v.
 */
#if LUA_VERSION_NUM >= 502
static int noted_slot(lua_State *L) {
  view *v;
  int i;
  if (lua_type(L, 1) != LUA_TUSERDATA) return 0;
  for (i = 0; i < C_COUNT; i++)
    if (is_class(L, 1, (vclass)i)) break;
  if (i == C_COUNT) return 0;
  v = (view *)lua_touserdata(L, 1);
  return !v->has_parent;
}
#endif

static int core_note(lua_State *L) {
  lua_settop(L, 2);
#if LUA_VERSION_NUM < 502
  lua_pushboolean(L, 0);
#else
  if (lua_type(L, 2) != LUA_TTABLE || !noted_slot(L)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, 2);
  lua_pushboolean(L, 1);
#endif
  return 1;
}

static int core_noted(lua_State *L) {
  lua_settop(L, 1);
#if LUA_VERSION_NUM >= 502
  if (noted_slot(L)) {
    lua_getiuservalue(L, 1, 2);
    return 1;
  }
#endif
  lua_pushnil(L);
  return 1;
}

/*
 * core.locations(doc) -> items, missingItems | nil, message
 * Wraps a decoded ChargingLocations table: items becomes an array of
 * Location objects, missingItems an array of strings (empty when absent).
 */
static int core_locations(lua_State *L) {
  int i, n, keys;
  lua_settop(L, 1);
  if (lua_type(L, 1) != LUA_TTABLE) {
    lua_pushnil(L);
    lua_pushliteral(L, "response: expected an object with 'items'");
    return 2;
  }
  lua_getfield(L, 1, "items"); /* 2 */
  if (lua_isnil(L, 2) || is_jsonnull(L, 2)) {
    lua_pop(L, 1);
    lua_newtable(L);
  } else if (lua_type(L, 2) != LUA_TTABLE) {
    lua_pushnil(L);
    lua_pushliteral(L, "items: expected an array");
    return 2;
  }
  n = (int)lua_rawlen(L, 2);
  lua_createtable(L, n, 0); /* 3: result items */
  keys = push_keys(L);      /* 4.. */
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    if (!check_location(L, -1, keys, i)) {
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    push_view(L, C_LOCATION, -1, 0);
    lua_rawseti(L, 3, i);
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  lua_getfield(L, 1, "missingItems"); /* 4 */
  if (lua_isnil(L, 4) || is_jsonnull(L, 4)) {
    lua_pop(L, 1);
    lua_newtable(L);
  } else if (lua_type(L, 4) != LUA_TTABLE) {
    lua_pushnil(L);
    lua_pushliteral(L, "missingItems: expected an array");
    return 2;
  } else {
    n = (int)lua_rawlen(L, 4);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, 4, i);
      if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pushnil(L);
        lua_pushfstring(L, "missingItems[%d]: expected a string", i);
        return 2;
      }
      lua_pop(L, 1);
    }
  }
  return 2;
}

/* core.set_json_encoder(fn): replaces the encoder :tojson() uses (private;
 * by default evcp.json's encode_document, required on first use). */
static int core_set_json_encoder(lua_State *L) {
  if (!lua_isfunction(L, 1))
    return evcp_error(L, "core.set_json_encoder: argument #1 must be a function, got %s",
                      luaL_typename(L, 1));
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, ENCODER_KEY);
  return 0;
}

/* core.copy(v) -> deep plain copy of v with integral numbers as integers */
static int core_copy(lua_State *L) {
  if (lua_isnone(L, 1)) return evcp_error(L, "core.copy: argument #1 expected");
  evcp_pushcopy(L, 1, 0);
  return 1;
}

/* Makes view class `name` with the common methods plus `extra`; its __index
 * is view_index (see there for the upvalues). */
static void new_view_class(lua_State *L, vclass c, lua_CFunction tostr, const luaL_Reg *extra) {
  const char *name = class_names[c];
  int is_location = c == C_LOCATION;
  const luaL_Reg meta[] = {{"__tostring", tostr}, {"__newindex", view_newindex}, {NULL, NULL}};
  const luaL_Reg common[] = {{"totable", view_totable}, {"tojson", view_tojson}, {NULL, NULL}};
  evcp_createclass(L, name, meta, extra);
  luaL_getmetatable(L, name);
  lua_getfield(L, -1, "__index"); /* the methods */
  luaL_setfuncs(L, common, 0);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, extra, 1); /* again, with the metatable as upvalue (check_method) */
  lua_pushvalue(L, -2);
  lua_pushstring(L, name);
  if (is_location) lua_pushboolean(L, 1);
  else lua_pushnil(L);
  lua_getfield(L, LUA_REGISTRYINDEX, CACHE_KEY);
  lua_pushcclosure(L, view_index, 5);
  lua_setfield(L, -2, "__index");
  lua_pushlightuserdata(L, &class_keys[c]);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

int evcp_object_open(lua_State *L) {
  static const luaL_Reg location_m[] = {{"evses", location_evses},
                                        {"connector_groups", location_groups},
                                        {"tariffs", location_tariffs},
                                        {"evse", location_evse},
                                        {NULL, NULL}};
  static const luaL_Reg evse_m[] = {
      {"connectors", evse_connectors}, {"charging_location", evse_location}, {NULL, NULL}};
  static const luaL_Reg connector_m[] = {{"evse", connector_evse},
                                         {"charging_location", connector_location},
                                         {"tariffs", connector_tariffs},
                                         {NULL, NULL}};
  static const luaL_Reg group_m[] = {{"charging_location", group_location},
                                     {"tariffs", group_tariffs},
                                     {"connectors", group_connectors},
                                     {NULL, NULL}};
  static const luaL_Reg tariff_m[] = {{"charging_location", tariff_location}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"location", core_location},
                                   {"locations", core_locations},
                                   {"set_json_encoder", core_set_json_encoder},
                                   {"copy", core_copy},
                                   {"note", core_note},
                                   {"noted", core_noted},
                                   {NULL, NULL}};
  lua_newtable(L); /* the node cache, weak-keyed (see the header) */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, CACHE_KEY);
  new_view_class(L, C_LOCATION, location_tostring, location_m);
  new_view_class(L, C_EVSE, evse_tostring, evse_m);
  new_view_class(L, C_CONNECTOR, connector_tostring, connector_m);
  new_view_class(L, C_GROUP, group_tostring, group_m);
  new_view_class(L, C_TARIFF, tariff_tostring, tariff_m);
  luaL_setfuncs(L, funcs, 0); /* into the module table on top */
  return 0;
}
