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
 * evcp_createclass(L, name, meta, methods): the one way evcp makes a class,
 * shaped like liolib's createmeta. Creates the metatable `name` in the
 * registry with the metamethods in `meta`, sets __name to `name`, locks it
 * (__metatable = `name`: getmetatable(obj) returns the class name, so user
 * code can neither reach the metamethods nor change them) and sets __index
 * to a new table of `methods` (a class that needs an __index function
 * replaces it afterwards, taking the methods table from there, as object.c
 * does). Leaves the stack as it found it. Every C function in `meta` and `methods`
 * must check its self (evcp_checkself or luaL_testudata): debug.getmetatable
 * still reaches them.
 */
void evcp_createclass(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods);

/* Raises "<where of the Lua caller><formatted message>"; never returns. Name
 * the function in the message ("evcp.Location:evse: ..."). */
int evcp_error(lua_State *L, const char *fmt, ...);

/* Returns the userdata of class `cls` at index 1, or raises
 * "<fname>: self must be an <cls> (call it with ':'), got <type>". */
void *evcp_checkself(lua_State *L, const char *cls, const char *fname);

/* Pushes the value at idx, turning an integral float into an integer (5.4). */
void evcp_pushnormal(lua_State *L, int idx);

/* Pushes a deep plain copy of the value at idx (tables copied, numbers
 * normalized); raises past EVCP_MAX_DEPTH levels. */
void evcp_pushcopy(lua_State *L, int idx, int depth);

/* text.c's secret matcher (core.scrub): the length of a spelling of
 * sec[0..m) at t[i] (itself, bytes as %XX of either case, a space as '+'),
 * or 0; and the scrub of t[0..n) into b ("***" for each spelling of any of
 * the nsec secrets), returning 0 with nothing added when none occurs. */
size_t evcp_spelling_at(const unsigned char *t, size_t n, size_t i, const unsigned char *sec,
                        size_t m);
int evcp_scrub_spans(lua_State *L, luaL_Buffer *b, const unsigned char *t, size_t n,
                     const unsigned char *const *secs, const size_t *lens, int nsec);

int evcp_object_open(lua_State *L);
int evcp_xml_open(lua_State *L);
int evcp_transport_open(lua_State *L);
int evcp_json_open(lua_State *L);
int evcp_text_open(lua_State *L);
int evcp_json_decode_open(lua_State *L);
int evcp_crypto_open(lua_State *L);
/* after evcp_json_open and evcp_json_decode_open: takes json_scan and
 * json_decode from the module table */
int evcp_stream_open(lua_State *L);

#endif
