/*
 * object.c: the v3 object model (Location, Evse, Connector, ConnectorGroup,
 * Tariff) as views over decoded documents.
 *
 * A view is a small userdata with user values: 1 = the decoded table it shows
 * (private: never handed out, only copies of it), 2 = its parent view (none
 * for a Location), which keeps the parent alive as long as the child is.
 * Fields are read through __index straight from the decoded table, so making
 * objects costs one userdata per object and no second copy of the data.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evcp.h"

typedef struct {
  const char *field; /* HERE field holding an array of child objects */
  const char *child; /* class name of those children */
} listfield;

typedef struct {
  const char *name;
  const listfield *lists;
} classdesc;

typedef struct {
  int has_parent; /* the rest of a view's state is in its user values */
} view;

static const listfield location_lists[] = {{"evses", EVCP_EVSE},
                                           {"connectorGroups", EVCP_CONNECTOR_GROUP},
                                           {"tariffs", EVCP_TARIFF},
                                           {NULL, NULL}};
static const listfield evse_lists[] = {{"connectors", EVCP_CONNECTOR}, {NULL, NULL}};
static const listfield no_lists[] = {{NULL, NULL}};

static const classdesc location_class = {EVCP_LOCATION, location_lists};
static const classdesc evse_class = {EVCP_EVSE, evse_lists};
static const classdesc connector_class = {EVCP_CONNECTOR, no_lists};
static const classdesc group_class = {EVCP_CONNECTOR_GROUP, no_lists};
static const classdesc tariff_class = {EVCP_TARIFF, no_lists};

static const char *const view_classes[] = {EVCP_LOCATION, EVCP_EVSE, EVCP_CONNECTOR,
                                           EVCP_CONNECTOR_GROUP, EVCP_TARIFF, NULL};

/* ---- shared helpers ---------------------------------------------------- */

void evcp_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                   const luaL_Reg *methods, lua_CFunction index) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_newtable(L); /* methods */
  luaL_setfuncs(L, methods, 0);
  if (index != NULL) {
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, index, 1);
  } else {
    lua_pushvalue(L, -1);
  }
  lua_setfield(L, -3, "__index");
  lua_remove(L, -2); /* metatable */
}

static int is_jsonnull(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

void evcp_pushnormal(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx)) {
    lua_Number d = lua_tonumber(L, idx);
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && floor(d) == d) {
      lua_pushinteger(L, (lua_Integer)d);
      return;
    }
  }
#endif
  lua_pushvalue(L, idx);
}

void evcp_pushcopy(lua_State *L, int idx, int depth) {
  if (lua_type(L, idx) != LUA_TTABLE) {
    evcp_pushnormal(L, idx);
    return;
  }
  if (depth > EVCP_MAX_DEPTH) luaL_error(L, "evcp: document nested deeper than %d levels", EVCP_MAX_DEPTH);
  luaL_checkstack(L, 6, "evcp: document too deep");
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_createtable(L, (int)lua_rawlen(L, idx), 0);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    evcp_pushnormal(L, -2);         /* key */
    evcp_pushcopy(L, -2, depth + 1); /* value */
    lua_rawset(L, -5);
    lua_pop(L, 1);
  }
}

/* ---- views ---------------------------------------------------------------- */

/* Pushes a new view of class `cls` over the table at data_idx with the parent
 * at parent_idx (0 for none). */
static int absindex(lua_State *L, int idx) {
  return (idx < 0 && idx > LUA_REGISTRYINDEX) ? lua_gettop(L) + idx + 1 : idx;
}

static void push_view(lua_State *L, const char *cls, int data_idx, int parent_idx) {
  view *v;
  data_idx = absindex(L, data_idx);
  parent_idx = absindex(L, parent_idx);
#if LUA_VERSION_NUM < 502
  /* One environment table per userdata: a Location's is its document
   * itself; a child's is {document, parent}. */
  v = (view *)lua_newuserdata(L, sizeof(view));
  v->has_parent = parent_idx != 0;
  luaL_getmetatable(L, cls);
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
  v = (view *)lua_newuserdatauv(L, sizeof(view), parent_idx != 0 ? 2 : 1);
  v->has_parent = parent_idx != 0;
  luaL_getmetatable(L, cls);
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

/* Checks that arg is a view of any class; returns its class name. */
static const char *check_view(lua_State *L, int arg) {
  int i;
  for (i = 0; view_classes[i] != NULL; i++)
    if (luaL_testudata(L, arg, view_classes[i]) != NULL) return view_classes[i];
  luaL_argerror(L, arg, "evcp object expected");
  return NULL;
}

static void push_data(lua_State *L, int idx) {
#if LUA_VERSION_NUM < 502
  view *v = (view *)lua_touserdata(L, idx);
  lua_getfenv(L, idx);
  if (v->has_parent) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
#else
  lua_getiuservalue(L, idx, 1);
#endif
}

/* Pushes a plain array of child views built from the array at arr_idx. */
static void push_children(lua_State *L, const char *cls, int arr_idx, int parent_idx) {
  int i, n;
  arr_idx = arr_idx < 0 ? lua_gettop(L) + arr_idx + 1 : arr_idx;
  n = (int)lua_rawlen(L, arr_idx);
  lua_createtable(L, n, 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, arr_idx, i);
    if (lua_type(L, -1) == LUA_TTABLE) {
      push_view(L, cls, -1, parent_idx);
      lua_rawseti(L, -3, i);
    }
    lua_pop(L, 1);
  }
}

static int view_index(lua_State *L) {
  const classdesc *cd = (const classdesc *)lua_touserdata(L, lua_upvalueindex(2));
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1)); /* a method? */
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  push_data(L, 1); /* 3 */
  lua_pushvalue(L, 2);
  lua_rawget(L, 3); /* 4 */
  switch (lua_type(L, 4)) {
  case LUA_TTABLE:
    if (lua_type(L, 2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, 2);
      const listfield *lf;
      for (lf = cd->lists; lf->field != NULL; lf++) {
        if (strcmp(k, lf->field) == 0) {
          push_children(L, lf->child, 4, 1);
          return 1;
        }
      }
    }
    evcp_pushcopy(L, 4, 0);
    return 1;
  case LUA_TLIGHTUSERDATA:
    if (is_jsonnull(L, 4)) lua_pushnil(L);
    else lua_pushvalue(L, 4);
    return 1;
  default:
    evcp_pushnormal(L, 4);
    return 1;
  }
}

static int view_newindex(lua_State *L) {
  return luaL_error(L, "%s is read-only (field '%s')", check_view(L, 1),
                    lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* obj:totable() -> a deep plain copy equal to the HERE JSON object. */
static int view_totable(lua_State *L) {
  check_view(L, 1);
  push_data(L, 1);
  evcp_pushcopy(L, -1, 0);
  return 1;
}

/* obj:tojson() -> the object encoded as JSON by evcp's private encoder. */
static int view_tojson(lua_State *L) {
  check_view(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "evcp.json_encode");
  if (!lua_isfunction(L, -1)) return luaL_error(L, "evcp: JSON encoder not set");
  push_data(L, 1);
  evcp_pushcopy(L, -1, 0);
  lua_remove(L, -2);
  lua_call(L, 1, 1);
  return 1;
}

/* obj:parent-style accessors: walks up n levels to a view of class cls. */
static int push_ancestor(lua_State *L, int idx, const char *cls) {
  int i;
  lua_pushvalue(L, idx);
  for (i = 0; i < 3; i++) {
    if (luaL_testudata(L, -1, cls) != NULL) return 1;
    if (lua_type(L, -1) != LUA_TUSERDATA) break;
    push_parent(L, -1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  return 1;
}

static int view_location(lua_State *L) {
  check_view(L, 1);
  return push_ancestor(L, 1, EVCP_LOCATION);
}

static int view_evse(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_CONNECTOR);
  return push_ancestor(L, 1, EVCP_EVSE);
}

/* Iterator over child views: upvalues (parent view, array, next index, class). */
static int children_iter(lua_State *L) {
  lua_Integer i = (lua_Integer)lua_tonumber(L, lua_upvalueindex(3));
  const char *cls = lua_tostring(L, lua_upvalueindex(4));
  for (;;) {
    i++;
    lua_rawgeti(L, lua_upvalueindex(2), (int)i);
    if (lua_isnil(L, -1)) return 0;
    if (lua_type(L, -1) == LUA_TTABLE) break;
    lua_pop(L, 1);
  }
  lua_pushnumber(L, (lua_Number)i);
  lua_replace(L, lua_upvalueindex(3));
  push_view(L, cls, -1, lua_upvalueindex(1));
  return 1;
}

static int push_iterator(lua_State *L, const char *cls, const char *field) {
  push_data(L, 1);
  lua_getfield(L, -1, field);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  lua_pushvalue(L, 1);
  lua_insert(L, -2);
  lua_pushnumber(L, 0);
  lua_pushstring(L, cls);
  lua_pushcclosure(L, children_iter, 4);
  return 1;
}

/* loc:evses() -> iterator over Evse objects */
static int location_evses(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_LOCATION);
  return push_iterator(L, EVCP_EVSE, "evses");
}

/* loc:connector_groups() -> iterator over ConnectorGroup objects */
static int location_groups(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_LOCATION);
  return push_iterator(L, EVCP_CONNECTOR_GROUP, "connectorGroups");
}

/* loc:tariffs() -> iterator over Tariff objects */
static int location_tariffs(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_LOCATION);
  return push_iterator(L, EVCP_TARIFF, "tariffs");
}

/* loc:evse(key) -> the Evse whose uid, id or evseId equals key, or nil */
static int location_evse(lua_State *L) {
  static const char *const keys[] = {"uid", "id", "evseId", NULL};
  int i, k, n;
  luaL_checkudata(L, 1, EVCP_LOCATION);
  luaL_checktype(L, 2, LUA_TSTRING);
  lua_settop(L, 2);
  push_data(L, 1);
  lua_getfield(L, 3, "evses");
  if (lua_type(L, 4) != LUA_TTABLE) return 0;
  n = (int)lua_rawlen(L, 4);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 4, i);
    if (lua_type(L, -1) == LUA_TTABLE) {
      for (k = 0; keys[k] != NULL; k++) {
        lua_getfield(L, -1, keys[k]);
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawequal(L, -1, 2)) {
          lua_pop(L, 1);
          push_view(L, EVCP_EVSE, -1, 1);
          return 1;
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* evse:connectors() -> iterator over Connector objects */
static int evse_connectors(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_EVSE);
  return push_iterator(L, EVCP_CONNECTOR, "connectors");
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
  push_view(L, EVCP_TARIFF, -1, lua_upvalueindex(1));
  return 1;
}

static int indexed_tariffs(lua_State *L) {
  check_view(L, 1);
  lua_settop(L, 1);
  push_ancestor(L, 1, EVCP_LOCATION); /* 2 */
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

/* ---- __tostring -------------------------------------------------------- */

static const char *field_str(lua_State *L, int data_idx, const char *k, const char *dflt) {
  const char *s;
  lua_getfield(L, data_idx, k);
  s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : dflt;
  lua_pop(L, 1); /* the string stays alive: it is anchored in the data table */
  return s;
}

static lua_Number field_num(lua_State *L, int data_idx, const char *k) {
  lua_Number n;
  lua_getfield(L, data_idx, k);
  n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
  lua_pop(L, 1);
  return n;
}

static int location_tostring(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_LOCATION);
  push_data(L, 1);
  lua_pushfstring(L, "%s: %s (%s)", EVCP_LOCATION, field_str(L, 2, "id", "?"),
                  field_str(L, 2, "name", "unnamed"));
  return 1;
}

static int evse_tostring(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_EVSE);
  push_data(L, 1);
  lua_pushfstring(L, "%s: %s (%s)", EVCP_EVSE,
                  field_str(L, 2, "evseId", field_str(L, 2, "uid", "?")),
                  field_str(L, 2, "status", "no status"));
  return 1;
}

static void push_power(lua_State *L, int data_idx) {
  lua_Number w = field_num(L, data_idx, "maxPower");
  char buf[64];
  if (w < 0) {
    lua_pushliteral(L, "unknown power");
    return;
  }
  snprintf(buf, sizeof buf, "%.15g kW", (double)(w / 1000.0));
  lua_pushstring(L, buf);
}

static int connector_tostring(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_CONNECTOR);
  push_data(L, 1);
  push_power(L, 2);
  lua_pushfstring(L, "%s: %s %s %s, %s", EVCP_CONNECTOR, field_str(L, 2, "standard", "?"),
                  field_str(L, 2, "format", "?"), field_str(L, 2, "powerType", "?"),
                  lua_tostring(L, 3));
  return 1;
}

static int group_tostring(lua_State *L) {
  lua_Number n, a;
  luaL_checkudata(L, 1, EVCP_CONNECTOR_GROUP);
  push_data(L, 1);
  push_power(L, 2);
  n = field_num(L, 2, "connectorCount");
  a = field_num(L, 2, "availableConnectorCount");
  if (a < 0)
    lua_pushfstring(L, "%s: %s, %s, %d connectors", EVCP_CONNECTOR_GROUP,
                    field_str(L, 2, "standard", "?"), lua_tostring(L, 3), (int)n);
  else
    lua_pushfstring(L, "%s: %s, %s, %d of %d available", EVCP_CONNECTOR_GROUP,
                    field_str(L, 2, "standard", "?"), lua_tostring(L, 3), (int)a, (int)n);
  return 1;
}

static int tariff_tostring(lua_State *L) {
  luaL_checkudata(L, 1, EVCP_TARIFF);
  push_data(L, 1);
  lua_pushfstring(L, "%s: %s %s %s (%s)", EVCP_TARIFF, field_str(L, 2, "type", "adhoc"),
                  field_str(L, 2, "partner", "?"), field_str(L, 2, "name", "unnamed"),
                  field_str(L, 2, "currency", "?"));
  return 1;
}

/* ---- building views from decoded documents ----------------------------- */

/*
 * Checks that field k of the table at idx, when present, is an array of
 * objects. On failure pushes a message naming the path and returns 0.
 */
static int check_object_array(lua_State *L, int idx, const char *k, const char *path) {
  int i, n, ok = 1;
  lua_getfield(L, idx, k);
  if (lua_isnil(L, -1) || is_jsonnull(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushfstring(L, "%s.%s: expected an array", path, k);
    return 0;
  }
  n = (int)lua_rawlen(L, -1);
  for (i = 1; i <= n && ok; i++) {
    lua_rawgeti(L, -1, i);
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 2);
      lua_pushfstring(L, "%s.%s[%d]: expected an object", path, k, i);
      return 0;
    }
    if (strcmp(k, "evses") == 0) {
      char sub[96];
      snprintf(sub, sizeof sub, "%s.evses[%d]", path, i);
      if (!check_object_array(L, lua_gettop(L), "connectors", sub)) {
        lua_insert(L, -3); /* message below the array and the element */
        lua_pop(L, 2);
        return 0;
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return ok;
}

static int check_coordinate(lua_State *L, int idx, const char *k, lua_Number limit) {
  lua_Number v;
  int ok;
  lua_getfield(L, idx, k);
  v = lua_tonumber(L, -1);
  ok = lua_type(L, -1) == LUA_TNUMBER && v >= -limit && v <= limit;
  lua_pop(L, 1);
  return ok;
}

/*
 * Validates the table at idx as a ChargingLocation. Returns 1, or pushes a
 * message and returns 0.
 */
static int check_location(lua_State *L, int idx, const char *path) {
  int t;
  if (lua_type(L, idx) != LUA_TTABLE) {
    lua_pushfstring(L, "%s: expected a location object", path);
    return 0;
  }
  lua_getfield(L, idx, "id");
  t = lua_type(L, -1);
  lua_pop(L, 1);
  if (t != LUA_TSTRING) {
    lua_pushfstring(L, "%s.id: expected a string", path);
    return 0;
  }
  lua_getfield(L, idx, "location");
  t = lua_type(L, -1);
  if (t != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushfstring(L, "%s.location: expected an object", path);
    return 0;
  }
  if (!check_coordinate(L, -1, "lat", 90) || !check_coordinate(L, -1, "lng", 180)) {
    lua_pop(L, 1);
    lua_pushfstring(L, "%s.location: expected lat in -90..90 and lng in -180..180", path);
    return 0;
  }
  lua_pop(L, 1);
  return check_object_array(L, idx, "evses", path) &&
         check_object_array(L, idx, "connectorGroups", path) &&
         check_object_array(L, idx, "tariffs", path);
}

/*
 * core.location(doc) -> Location | nil, message
 * Wraps a decoded ChargingLocation table (which evcp then owns).
 */
static int core_location(lua_State *L) {
  lua_settop(L, 1);
  if (!check_location(L, 1, "location")) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  push_view(L, EVCP_LOCATION, 1, 0);
  return 1;
}

/*
 * core.locations(doc) -> items, missingItems | nil, message
 * Wraps a decoded ChargingLocations table: items becomes an array of
 * Location objects, missingItems an array of strings (empty when absent).
 */
static int core_locations(lua_State *L) {
  int i, n;
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
  for (i = 1; i <= n; i++) {
    char path[32];
    lua_rawgeti(L, 2, i);
    snprintf(path, sizeof path, "items[%d]", i);
    if (!check_location(L, -1, path)) {
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    push_view(L, EVCP_LOCATION, -1, 0);
    lua_rawseti(L, 3, i);
    lua_pop(L, 1);
  }
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

/* core.set_json_encoder(fn): the private encoder used by :tojson(). */
static int core_set_json_encoder(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "evcp.json_encode");
  return 0;
}

/* core.copy(v) -> deep plain copy of v with integral numbers as integers */
static int core_copy(lua_State *L) {
  luaL_checkany(L, 1);
  evcp_pushcopy(L, 1, 0);
  return 1;
}

/* core.class_of(v) -> "evcp.Location" ... or nil */
static int core_class_of(lua_State *L) {
  int i;
  for (i = 0; view_classes[i] != NULL; i++) {
    if (luaL_testudata(L, 1, view_classes[i]) != NULL) {
      lua_pushstring(L, view_classes[i]);
      return 1;
    }
  }
  return 0;
}

/* Expects the module table on top; registers class cd. */
static void new_view_class(lua_State *L, const classdesc *cd, lua_CFunction tostr,
                           const luaL_Reg *extra) {
  const luaL_Reg meta[] = {{"__tostring", tostr}, {"__newindex", view_newindex}, {NULL, NULL}};
  const luaL_Reg common[] = {{"totable", view_totable}, {"tojson", view_tojson}, {NULL, NULL}};
  luaL_newmetatable(L, cd->name);
  luaL_setfuncs(L, meta, 0);
  lua_pushstring(L, cd->name);
  lua_setfield(L, -2, "__name");
  lua_newtable(L); /* methods */
  luaL_setfuncs(L, common, 0);
  luaL_setfuncs(L, extra, 0);
  lua_pushvalue(L, -1);
  lua_pushlightuserdata(L, (void *)cd);
  lua_pushcclosure(L, view_index, 2);
  lua_setfield(L, -3, "__index");
  /* module.classes["Location"] = methods, so the Lua front can add helpers */
  lua_getfield(L, -3, "classes");
  lua_insert(L, -2);
  lua_setfield(L, -2, cd->name + 5); /* skip "evcp." */
  lua_pop(L, 2);
}

int evcp_object_open(lua_State *L) {
  static const luaL_Reg location_m[] = {{"evses", location_evses},
                                        {"connector_groups", location_groups},
                                        {"tariffs", location_tariffs},
                                        {"evse", location_evse},
                                        {NULL, NULL}};
  static const luaL_Reg evse_m[] = {
      {"connectors", evse_connectors}, {"location", view_location}, {NULL, NULL}};
  static const luaL_Reg connector_m[] = {{"evse", view_evse},
                                         {"location", view_location},
                                         {"tariffs", indexed_tariffs},
                                         {NULL, NULL}};
  static const luaL_Reg group_m[] = {
      {"location", view_location}, {"tariffs", indexed_tariffs}, {NULL, NULL}};
  static const luaL_Reg tariff_m[] = {{"location", view_location}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"location", core_location},
                                   {"locations", core_locations},
                                   {"set_json_encoder", core_set_json_encoder},
                                   {"copy", core_copy},
                                   {"class_of", core_class_of},
                                   {NULL, NULL}};
  new_view_class(L, &location_class, location_tostring, location_m);
  new_view_class(L, &evse_class, evse_tostring, evse_m);
  new_view_class(L, &connector_class, connector_tostring, connector_m);
  new_view_class(L, &group_class, group_tostring, group_m);
  new_view_class(L, &tariff_class, tariff_tostring, tariff_m);
  luaL_setfuncs(L, funcs, 0); /* into the module table on top */
  return 0;
}
