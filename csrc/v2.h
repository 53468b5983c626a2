/*
 * v2.h: the v2 station converter's entry (csrc/v2station.c), registered from
 * evcp_xml_open (csrc/xml.c), the other half of v2's reading in C.
 */
#ifndef EVCP_V2_H
#define EVCP_V2_H

#include "evcp.h"

int evcp_v2station_open(lua_State *L);

#endif
