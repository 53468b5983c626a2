/*
 * evcp.h: what the C files of evcp.core share. Nothing here is exported from
 * the shared object except luaopen_evcp_core (see core.c).
 */
#ifndef EVCP_H
#define EVCP_H

#include "compat.h"

#define EVCP_LOCATION "evcp.Location"
#define EVCP_EVSE "evcp.Evse"
#define EVCP_CONNECTOR "evcp.Connector"
#define EVCP_CONNECTOR_GROUP "evcp.ConnectorGroup"
#define EVCP_TARIFF "evcp.Tariff"
#define EVCP_CLIENT "evcp.Client"

/* Deepest nesting evcp copies or checks; HERE's documents nest < 10 levels. */
#define EVCP_MAX_DEPTH 64

/*
 * Creates the metatable `name` in the registry, shaped like liolib's
 * createmeta: metamethods in the metatable, methods in a separate table. If
 * `index` is NULL, __index is the methods table; otherwise __index is the C
 * function `index` with the methods table as its only upvalue. Leaves the
 * methods table on the stack.
 */
void evcp_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                   const luaL_Reg *methods, lua_CFunction index);

/* Pushes the value at idx, turning an integral float into an integer (5.4). */
void evcp_pushnormal(lua_State *L, int idx);

/* Pushes a deep plain copy of the value at idx (tables copied, numbers normalized). */
void evcp_pushcopy(lua_State *L, int idx, int depth);

int evcp_object_open(lua_State *L);
int evcp_xml_open(lua_State *L);
int evcp_transport_open(lua_State *L);

#endif
