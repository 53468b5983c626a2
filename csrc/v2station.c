/*
 * v2station.c: one v2 station -> the v3-shaped table of a Location (pure).
 *
 * core.v2_station_converter(standards, status, status_fn) -> to_v3
 * returns the converter evcp.v2.station hands out as station.to_v3. The
 * mapping tables are Lua's and are passed in once, at load time (C keeps
 * no copy of its own): standards = v2 connector type id (integer) -> array
 * of v3 standards (evcp.connectors, "current" rows); status = v2 state as
 * HERE spells it -> v3 status (evcp.status); status_fn(state) -> v3 status
 * or nil, for any other spelling (status.v2_to_v3).
 *
 *   to_v3(st, where [, i]) -> table | nil, message
 *
 * How a v2 station maps onto the v3 model (the migration guide: pool or
 * station -> Location, EVSE -> EVSE, connector -> Connector):
 *
 *   * id: "here:evcp:charginglocation:" .. poolId (HERE keeps location ids
 *     across versions), or the station id when there is no poolId.
 *   * operator = {name = brand, partnerId = supplierUID}: v2 names one
 *     operator brand, the suboperator when there is one, else the operator
 *     (the guide's "Operator and Suboperator"), so compare it with v3's
 *     suboperator-or-operator. supplierUID is HERE's partner id of that
 *     entity, as in v3; cpoId (the CPO's own id of the location) becomes
 *     cpoLocationId.
 *   * A v2 "connector" is a connector group: one connector type and power,
 *     with numberOfConnectors and a connectorStatuses list. Each
 *     connectorStatus item is one connector of one EVSE: items with the same
 *     cpoEvseId, in one group or several, are connectors of one EVSE (an
 *     EVSE with a CCS and a CHAdeMO plug appears in two groups; two
 *     identical plugs of one EVSE are two items of one group). So:
 *       - evses: one per distinct cpoEvseId, in the order first seen; an item
 *         without cpoEvseId is an EVSE of its own (uid poolId/group/item);
 *         status = the v3 status of its first item's state (evcp.status);
 *         modified = the lastUpdateTimestamp of the first group it is in
 *         (v2 has no per-EVSE time in a station);
 *       - each item adds one connector (id = cpoConnectorId; without one,
 *         the EVSE uid, or uid/group number when the uid is taken); a
 *         connector id already on the EVSE is not added twice;
 *       - connectorGroups: one per v2 group, {standard, standards, v2TypeId,
 *         maxPower, connectorCount = numberOfConnectors,
 *         availableConnectorCount = numberOfAvailable (else the listed EVSEs
 *         whose status is available), connectors = the group's {evseUid,
 *         connectorIds} references}.
 *     A group without connectorStatuses (HERE's older answers) gives no
 *     EVSEs, only its connectorGroups entry: counts in the data are copied as
 *     numbers, never used to build anything.
 *   * Connector standard: v2TypeId is the v2 connectorType.id (a string, as
 *     v2 sends it), always kept. `standards` lists every v3 standard the
 *     guide maps it to (id 36 -> IEC_60309_2_THREE_16, _32, _64; v2 does not
 *     say which); `standard` is set only when there is exactly one. For a
 *     deprecated, unused or unknown id both are absent and v2TypeId alone
 *     says what the plug is.
 *   * Electrical data, from chargeCapacity ("380-480VAC, 3-phase at max.
 *     32 A", "1000-1000VDC, at max 300A"), else voltsRange/ampsRange and
 *     chargingPoint.phases/chargeMode, or the group's powerFeedType id when
 *     sent (1..5: ac1Phase, ac2Phase, ac2PhaseSplit, ac3Phase, dc): powerType
 *     dc / ac1Phase / ac2PhaseSplit (v2 "2-phase") / ac3Phase, left out when
 *     nothing says;
 *     maxCurrent = the figure before "A"; maxVoltage = the highest figure
 *     before "V", line to neutral for 3-phase AC as v3 defines it: v2 writes
 *     3-phase voltages both ways (HERE's older answers line to line,
 *     "380-480VAC"; its current example line to neutral, "230-230VAC" at
 *     22 kW and 32 A), so a 3-phase figure of 360 V or more is read as line
 *     to line and divided by sqrt(3) (480 -> 277). Only the first entry of
 *     a ";"-separated list is read. maxPower = maxPowerLevel (kW) * 1000.
 *     format = cable/socket from fixedCable, left out when it is not given.
 *
 * Hostile input: every text is length-checked before it is read and every
 * read is one linear pass; counts in the data are never used to allocate;
 * finding an EVSE by uid, a reference in a group or a connector id on an
 * EVSE scans at most SMALL entries and then goes through a hash, so a
 * station of n items costs O(n). The whole v2 station stays reachable as
 * `v2`.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evcp.h"
#include "v2.h"

#define MAX_TEXT 256     /* longest electrical text read */
#define MAX_DIGITS 7     /* longest figure read from such a text */
#define MAX_TYPE_ID 8    /* longest connectorType.id looked up */
#define MAX_STATE 32     /* longest state looked up */
#define MAX_COUNT 2147483647.0
#define MAX_KW 1e6
#define LINE_TO_LINE_MIN 360 /* 3-phase figures from this voltage up are line to line */
#define SMALL 8              /* entries found by a scan; beyond, through a hash */

/* upvalues of the converter */
#define U_STANDARDS lua_upvalueindex(1)
#define U_STATUS lua_upvalueindex(2)
#define U_STATUS_FN lua_upvalueindex(3)

/* ---- small readers ------------------------------------------------------ */

static int finite_at(lua_State *L, int idx, double *out) {
  double d;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  d = (double)lua_tonumber(L, idx);
  if (!(d - d == 0)) return 0;
  *out = d;
  return 1;
}

/* tonumber(s) of the string at idx, as a double: 1, or 0 when it is not one. */
static int string_number(lua_State *L, int idx, double *out) {
#if LUA_VERSION_NUM >= 503
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  size_t used = lua_stringtonumber(L, s); /* pushes the number when it reads one */
  if (used == 0) return 0;
  if (used != len + 1) { /* an embedded NUL: tonumber refuses it */
    lua_pop(L, 1);
    return 0;
  }
  *out = (double)lua_tonumber(L, -1);
  lua_pop(L, 1);
  return 1;
#else
  if (!lua_isnumber(L, idx)) return 0;
  *out = (double)lua_tonumber(L, idx);
  return 1;
#endif
}

/* Pushes text(v) of the value at idx (a non-empty string, or an integral
 * number as its decimal text) and returns 1, or pushes nothing and returns 0. */
static int push_text(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING) {
    if (lua_rawlen(L, idx) == 0) return 0;
    lua_pushvalue(L, idx);
    return 1;
  }
  if (t == LUA_TNUMBER) {
    char buf[32];
    double d = (double)lua_tonumber(L, idx);
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
      lua_Integer n = lua_tointeger(L, idx);
      if (n <= -1000000000000000LL || n >= 1000000000000000LL) return 0;
      snprintf(buf, sizeof buf, "%lld", (long long)n);
      lua_pushstring(L, buf);
      return 1;
    }
#endif
    if (d == d && d > -1e15 && d < 1e15 && d == floor(d)) {
      snprintf(buf, sizeof buf, "%lld", (long long)d);
      lua_pushstring(L, buf);
      return 1;
    }
  }
  return 0;
}

/* push_text of field k of the table at idx. */
static int push_text_field(lua_State *L, int idx, const char *k) {
  int r;
  lua_getfield(L, idx, k);
  r = push_text(L, -1);
  lua_remove(L, r ? -2 : -1);
  return r;
}

/* count_of(t[k]) of the table at idx: the count, or -1. */
static double count_field(lua_State *L, int idx, const char *k) {
  double d = -1;
  int ok;
  lua_getfield(L, idx, k);
  if (lua_type(L, -1) == LUA_TSTRING)
    ok = lua_rawlen(L, -1) <= 10 && string_number(L, -1, &d);
  else
    ok = finite_at(L, -1, &d);
  lua_pop(L, 1);
  if (ok && d - d == 0 && d >= 0 && d <= MAX_COUNT && d == floor(d)) return d;
  return -1;
}

/* The element list t[wkey][key] of the table at idx (evcp.v2.station.list_of):
 * pushes it and returns its length (a single object counts as a list of one:
 * returned as -1), or pushes nil and returns 0. */
static int push_list(lua_State *L, int idx, const char *wkey, const char *key) {
  lua_getfield(L, idx, wkey);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
  }
  lua_getfield(L, -1, key);
  lua_remove(L, -2);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
  }
  lua_rawgeti(L, -1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    if (lua_next(L, -2) != 0) {
      lua_pop(L, 2);
      return -1; /* one object */
    }
    return 0;
  }
  lua_pop(L, 1);
  return (int)lua_rawlen(L, -1);
}

/* Item i of the list at idx of push_list's length n. */
static void push_item(lua_State *L, int idx, int n, int i) {
  if (n < 0) {
    if (i == 1) lua_pushvalue(L, idx);
    else lua_pushnil(L);
  } else if (n == 0) {
    lua_pushnil(L);
  } else {
    lua_rawgeti(L, idx, i);
  }
}

/* ---- electrical texts --------------------------------------------------- */

typedef struct {
  int volts, amps, phases; /* 0: unset (phases: -1 unset, 0 is a value) */
  const char *kind;        /* "ac", "dc" or NULL */
} elec;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int contains(const char *s, size_t n, const char *w) {
  size_t i;
  for (i = 0; i + 1 < n; i++)
    if (s[i] == w[0] && s[i + 1] == w[1]) return 1;
  return 0;
}

/* Adds what the text of field k (of the table at idx) says to e where e is
 * still unset. Linear: one pass over at most MAX_TEXT bytes. */
static void merge_field(lua_State *L, int idx, const char *k, elec *e) {
  size_t n, i = 0;
  const char *s;
  int volts = 0, amps = 0, phases = -1;
  const char *kind = NULL;
  lua_getfield(L, idx, k);
  if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) > MAX_TEXT) {
    lua_pop(L, 1);
    return;
  }
  s = lua_tolstring(L, -1, &n);
  {
    const char *stop = (const char *)memchr(s, ';', n);
    if (stop != NULL) n = (size_t)(stop - s);
  }
  while (i < n) {
    size_t a, b;
    if (!is_digit(s[i])) {
      i++;
      continue;
    }
    a = i;
    while (i < n && is_digit(s[i])) i++;
    b = i; /* digits s[a..b) */
    if (b - a <= MAX_DIGITS) {
      int v = 0;
      size_t j;
      for (j = a; j < b; j++) v = v * 10 + (s[j] - '0');
      if (b + 6 <= n && s[b] == '-' && (s[b + 1] == 'P' || s[b + 1] == 'p') &&
          memcmp(s + b + 2, "hase", 4) == 0) {
        if (phases < 0) phases = v;
      } else {
        size_t u = b;
        while (u < n && is_space(s[u])) u++;
        if (u < n && is_alpha(s[u])) {
          if (s[u] == 'V') {
            if (v > volts) volts = v;
          } else if (s[u] == 'A') {
            if (amps == 0 && v > 0) amps = v;
            else if (amps == 0) amps = -1; /* "0A": set, and not a value */
          }
        }
      }
    }
  }
  if (contains(s, n, "DC")) kind = "dc";
  else if (contains(s, n, "AC")) kind = "ac";
  lua_pop(L, 1);
  if (e->volts == 0 && volts > 0) e->volts = volts;
  if (e->amps == 0 && amps > 0) e->amps = amps;
  if (e->phases < 0) e->phases = phases;
  if (e->kind == NULL) e->kind = kind;
}

/* ---- finding by uid ----------------------------------------------------- */

/* Up to SMALL (string, length) pairs, then a Lua table (at index map) from
 * the string to its 1-based position. The strings are anchored elsewhere. */
typedef struct {
  const char *s[SMALL];
  size_t len[SMALL];
  int n;
  int map; /* stack index of the map slot (nil until used) */
} finder;

/* The position of the string at idx, or 0. */
static int find_uid(lua_State *L, finder *f, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  int i;
  if (f->n > SMALL) {
    int pos;
    lua_pushvalue(L, idx);
    lua_rawget(L, f->map);
    pos = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return pos;
  }
  for (i = 0; i < f->n; i++)
    if (f->len[i] == len && memcmp(f->s[i], s, len) == 0) return i + 1;
  return 0;
}

/* Records the string at idx (anchored by the caller) at position f->n + 1. */
static void add_uid(lua_State *L, finder *f, int idx) {
  int i;
  if (f->n < SMALL) {
    f->s[f->n] = lua_tolstring(L, idx, &f->len[f->n]);
  } else {
    if (f->n == SMALL) {
      lua_createtable(L, 0, 2 * SMALL);
      for (i = 0; i < SMALL; i++) {
        lua_pushlstring(L, f->s[i], f->len[i]);
        lua_pushinteger(L, i + 1);
        lua_rawset(L, -3);
      }
      lua_replace(L, f->map);
    }
    lua_pushvalue(L, idx);
    lua_pushinteger(L, f->n + 1);
    lua_rawset(L, f->map);
  }
  f->n++;
}

/* Does the connectors array at idx hold a connector whose id is the string
 * at cid? sets (a table) maps an EVSE position j to the set of its ids once
 * it has more than SMALL connectors. */
static int has_connector(lua_State *L, int conns, int sets, int j, int cid) {
  int n = (int)lua_rawlen(L, conns), i, found = 0;
  if (n > SMALL) {
    lua_rawgeti(L, sets, j);
    lua_pushvalue(L, cid);
    lua_rawget(L, -2);
    found = !lua_isnil(L, -1);
    lua_pop(L, 2);
    return found;
  }
  for (i = 1; i <= n && !found; i++) {
    lua_rawgeti(L, conns, i);
    lua_getfield(L, -1, "id");
    found = lua_rawequal(L, -1, cid);
    lua_pop(L, 2);
  }
  return found;
}

/* Appends the table on top to the connectors array at conns (popping it),
 * keeping sets[j] once there are more than SMALL. */
static void add_connector(lua_State *L, int conns, int sets, int j, int cid) {
  int n = (int)lua_rawlen(L, conns) + 1, i;
  lua_rawseti(L, conns, n);
  if (n == SMALL + 1) {
    lua_createtable(L, 0, 2 * SMALL);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, conns, i);
      lua_getfield(L, -1, "id");
      lua_pushboolean(L, 1);
      lua_rawset(L, -4);
      lua_pop(L, 1);
    }
    lua_rawseti(L, sets, j);
  } else if (n > SMALL + 1) {
    lua_rawgeti(L, sets, j);
    lua_pushvalue(L, cid);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
}

/* ---- the conversion ----------------------------------------------------- */

/* Pushes the v3 status of the value at idx (a state). */
static void push_status(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  lua_rawget(L, U_STATUS);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  if (lua_type(L, idx) == LUA_TSTRING && lua_rawlen(L, idx) <= MAX_STATE) {
    lua_pushvalue(L, U_STATUS_FN);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    if (!lua_isnil(L, -1)) return;
    lua_pop(L, 1);
  }
  lua_pushliteral(L, "unknown");
}

/* Pushes the message "<where>[<i>]<suffix>" and returns 2 results (nil, msg). */
static int fail(lua_State *L, const char *suffix) {
  int n = 1;
  lua_pushnil(L);
  lua_pushvalue(L, 2);
  if (!lua_isnoneornil(L, 3)) {
    lua_pushliteral(L, "[");
    lua_pushvalue(L, 3);
    lua_pushliteral(L, "]");
    n += 3;
  }
  lua_pushstring(L, suffix);
  lua_concat(L, n + 1);
  return 2;
}

static void set_copy(lua_State *L, int t, const char *to, int from, const char *k) {
  lua_getfield(L, from, k);
  lua_setfield(L, t, to);
}

/* slots of one call (see v2_to_v3) */
enum {
  S_ST = 1, S_WHERE, S_INDEX,
  S_POOL, S_BRAND, S_PARTNER, S_EVSES, S_BYUID, S_GROUPS, S_SETS, S_LIST,
  S_GROUP, S_TID, S_STANDARDS, S_STANDARD, S_MODIFIED, S_ITEMS, S_REFS, S_REFOF,
  S_CS, S_UID, S_EVSE, S_CONNS, S_CID, S_TOP
};

/* The group at S_GROUP (number gi): its connectors into the EVSEs, and its
 * connectorGroups entry pushed. */
static void convert_group(lua_State *L, int gi, finder *ev) {
  elec e = {0, 0, -1, NULL};
  double kw, count, available;
  long long max_power = -1;
  const char *fmt = NULL, *power_type = NULL;
  int nitems, k, nstd = 0, has_cp, listed_available = 0;
  finder refs;
  refs.n = 0;
  refs.map = S_REFOF;
  if (lua_isnil(L, S_BRAND)) {
    if (push_text_field(L, S_GROUP, "supplierName")) lua_replace(L, S_BRAND);
  }
  if (lua_isnil(L, S_PARTNER)) {
    if (push_text_field(L, S_GROUP, "supplierUID")) lua_replace(L, S_PARTNER);
  }
  /* the connector type: v2TypeId and its standards */
  lua_pushnil(L);
  lua_replace(L, S_TID);
  lua_pushnil(L);
  lua_replace(L, S_STANDARDS);
  lua_pushnil(L);
  lua_replace(L, S_STANDARD);
  lua_getfield(L, S_GROUP, "connectorType");
  if (lua_type(L, -1) == LUA_TTABLE) {
    int ok = 0;
    lua_getfield(L, -1, "id");
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushvalue(L, -1);
      ok = 1;
    } else {
      ok = push_text(L, -1);
    }
    if (ok) { /* -1: the id's text */
      size_t n, i;
      const char *s = lua_tolstring(L, -1, &n);
      ok = n > 0 && n <= MAX_TYPE_ID;
      for (i = 0; ok && i < n; i++) ok = is_digit(s[i]);
      if (ok) {
        char buf[16];
        long v = 0;
        for (i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
        snprintf(buf, sizeof buf, "%ld", v);
        lua_pushstring(L, buf);
        lua_replace(L, S_TID);
        lua_rawgeti(L, U_STANDARDS, (lua_Integer)v);
        if (lua_type(L, -1) == LUA_TTABLE) {
          int j;
          nstd = (int)lua_rawlen(L, -1);
          lua_createtable(L, nstd, 0);
          for (j = 1; j <= nstd; j++) {
            lua_rawgeti(L, -2, j);
            lua_rawseti(L, -2, j);
          }
          lua_replace(L, S_STANDARDS);
          if (nstd == 1) {
            lua_rawgeti(L, -1, 1);
            lua_replace(L, S_STANDARD);
          }
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* power */
  lua_getfield(L, S_GROUP, "maxPowerLevel");
  {
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING) ok = lua_rawlen(L, -1) <= 32 && string_number(L, -1, &kw);
    else ok = finite_at(L, -1, &kw);
    if (ok && kw - kw == 0 && kw > 0 && kw <= MAX_KW) max_power = (long long)floor(kw * 1000 + 0.5);
  }
  lua_pop(L, 1);
  lua_getfield(L, S_GROUP, "fixedCable");
  if (lua_type(L, -1) == LUA_TBOOLEAN) fmt = lua_toboolean(L, -1) ? "cable" : "socket";
  lua_pop(L, 1);
  merge_field(L, S_GROUP, "chargeCapacity", &e);
  lua_pushnil(L);
  lua_replace(L, S_MODIFIED);
  if (push_text_field(L, S_GROUP, "lastUpdateTimestamp")) lua_replace(L, S_MODIFIED);
  count = available = -1;
  lua_getfield(L, S_GROUP, "chargingPoint"); /* S_TOP */
  has_cp = lua_type(L, -1) == LUA_TTABLE;
  if (has_cp) {
    int cp = lua_gettop(L);
    merge_field(L, cp, "voltsRange", &e);
    merge_field(L, cp, "ampsRange", &e);
    if (e.phases < 0) {
      double p = count_field(L, cp, "phases");
      if (p >= 0) e.phases = (int)p;
    }
    if (e.kind == NULL) {
      lua_getfield(L, cp, "chargeMode");
      if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) == 1 && lua_tostring(L, -1)[0] == '4')
        e.kind = "dc";
      lua_pop(L, 1);
    }
    if (lua_isnil(L, S_MODIFIED) && push_text_field(L, cp, "lastUpdateTimestamp"))
      lua_replace(L, S_MODIFIED);
    count = count_field(L, cp, "numberOfConnectors");
    available = count_field(L, cp, "numberOfAvailable");
  }
  lua_pop(L, 1);
  if (e.kind == NULL && e.phases >= 0) e.kind = "ac";
  lua_getfield(L, S_GROUP, "powerFeedType");
  if (lua_type(L, -1) == LUA_TTABLE) {
    static const char *const feeds[] = {"ac1Phase", "ac2Phase", "ac2PhaseSplit", "ac3Phase", "dc"};
    int id = 0;
    double d;
    lua_getfield(L, -1, "id");
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *s = lua_tostring(L, -1);
      if (lua_rawlen(L, -1) == 1 && s[0] >= '1' && s[0] <= '5') id = s[0] - '0';
    } else if (finite_at(L, -1, &d) && d >= 1 && d <= 5 && d == floor(d)) {
      id = (int)d;
    }
    if (id > 0) power_type = feeds[id - 1];
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (power_type == NULL && e.kind != NULL) {
    if (e.kind[0] == 'd') {
      power_type = "dc";
    } else {
      int p = e.phases < 0 ? 1 : e.phases;
      power_type = p == 1 ? "ac1Phase" : p == 2 ? "ac2PhaseSplit" : p == 3 ? "ac3Phase" : NULL;
    }
  }
  if (e.volts > 0 && power_type != NULL && strcmp(power_type, "ac3Phase") == 0 &&
      e.volts >= LINE_TO_LINE_MIN)
    e.volts = (int)floor(e.volts / sqrt(3.0) + 0.5);
  /* its connectors */
  lua_pushnil(L);
  lua_replace(L, S_REFS);
  lua_pushnil(L);
  lua_replace(L, S_REFOF);
  nitems = push_list(L, S_GROUP, "connectorStatuses", "connectorStatus");
  lua_replace(L, S_ITEMS);
  for (k = 1; k <= (nitems < 0 ? 1 : nitems); k++) {
    int j;
    push_item(L, S_ITEMS, nitems, k);
    lua_replace(L, S_CS);
    if (lua_type(L, S_CS) != LUA_TTABLE) continue;
    if (!push_text_field(L, S_CS, "cpoEvseId")) {
      lua_pushvalue(L, S_POOL);
      lua_pushfstring(L, "/%d/%d", gi, k);
      lua_concat(L, 2);
    }
    lua_replace(L, S_UID);
    j = find_uid(L, ev, S_UID);
    if (j == 0) { /* a new EVSE */
      lua_createtable(L, 0, 6);
      lua_pushvalue(L, S_UID);
      lua_setfield(L, -2, "uid");
      if (push_text_field(L, S_CS, "cpoEvseEMI3Id")) lua_setfield(L, -2, "evseId");
      if (push_text_field(L, S_CS, "physicalReference")) lua_setfield(L, -2, "physicalReference");
      lua_getfield(L, S_CS, "state");
      push_status(L, lua_gettop(L));
      lua_setfield(L, -3, "status");
      lua_pop(L, 1);
      lua_pushvalue(L, S_MODIFIED);
      lua_setfield(L, -2, "modified");
      lua_createtable(L, 1, 0);
      lua_setfield(L, -2, "connectors");
      if (lua_isnil(L, S_EVSES)) {
        lua_createtable(L, 4, 0);
        lua_replace(L, S_EVSES);
      }
      lua_pushvalue(L, -1);
      lua_rawseti(L, S_EVSES, ev->n + 1);
      lua_replace(L, S_EVSE);
      lua_getfield(L, S_EVSE, "uid"); /* anchored in the EVSE */
      add_uid(L, ev, lua_gettop(L));
      lua_pop(L, 1);
      j = ev->n;
    } else {
      lua_rawgeti(L, S_EVSES, j);
      lua_replace(L, S_EVSE);
    }
    lua_getfield(L, S_EVSE, "connectors");
    lua_replace(L, S_CONNS);
    if (!push_text_field(L, S_CS, "cpoConnectorId")) {
      /* no connector id: the EVSE's uid, made unique per group */
      lua_pushvalue(L, S_UID);
      lua_replace(L, S_CID);
      if (has_connector(L, S_CONNS, S_SETS, j, S_CID)) {
        lua_pushvalue(L, S_UID);
        lua_pushfstring(L, "/%d", gi);
        lua_concat(L, 2);
      } else {
        lua_pushvalue(L, S_UID);
      }
    }
    lua_replace(L, S_CID);
    if (has_connector(L, S_CONNS, S_SETS, j, S_CID)) continue;
    lua_createtable(L, 0, 9);
    lua_pushvalue(L, S_CID);
    lua_setfield(L, -2, "id");
    if (nstd == 1) {
      lua_pushvalue(L, S_STANDARD);
      lua_setfield(L, -2, "standard");
    }
    lua_pushvalue(L, S_STANDARDS);
    lua_setfield(L, -2, "standards");
    lua_pushvalue(L, S_TID);
    lua_setfield(L, -2, "v2TypeId");
    if (fmt) {
      lua_pushstring(L, fmt);
      lua_setfield(L, -2, "format");
    }
    if (power_type) {
      lua_pushstring(L, power_type);
      lua_setfield(L, -2, "powerType");
    }
    if (e.volts > 0) {
      lua_pushinteger(L, e.volts);
      lua_setfield(L, -2, "maxVoltage");
    }
    if (e.amps > 0) {
      lua_pushinteger(L, e.amps);
      lua_setfield(L, -2, "maxCurrent");
    }
    if (max_power >= 0) {
      lua_pushinteger(L, (lua_Integer)max_power);
      lua_setfield(L, -2, "maxPower");
    }
    if (lua_isnil(L, S_SETS) && lua_rawlen(L, S_CONNS) >= SMALL) {
      lua_newtable(L);
      lua_replace(L, S_SETS);
    }
    add_connector(L, S_CONNS, S_SETS, j, S_CID);
    /* the group's reference to it */
    {
      int r = find_uid(L, &refs, S_UID);
      if (r == 0) {
        lua_createtable(L, 0, 2);
        lua_pushvalue(L, S_UID);
        lua_setfield(L, -2, "evseUid");
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, S_CID);
        lua_rawseti(L, -2, 1);
        lua_setfield(L, -2, "connectorIds");
        if (lua_isnil(L, S_REFS)) {
          lua_createtable(L, 2, 0);
          lua_replace(L, S_REFS);
        }
        lua_rawseti(L, S_REFS, refs.n + 1);
        add_uid(L, &refs, S_UID); /* anchored: it is the EVSE's uid (S_UID is in the ref) */
        lua_getfield(L, S_EVSE, "status");
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "available") == 0)
          listed_available++;
        lua_pop(L, 1);
      } else {
        lua_rawgeti(L, S_REFS, r);
        lua_getfield(L, -1, "connectorIds");
        lua_pushvalue(L, S_CID);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 2);
      }
    }
  }
  if (available < 0 && refs.n > 0) available = listed_available;
  if (count < 0 && refs.n > 0) count = refs.n;
  lua_createtable(L, 0, 7);
  if (nstd == 1) {
    lua_pushvalue(L, S_STANDARD);
    lua_setfield(L, -2, "standard");
  }
  lua_pushvalue(L, S_STANDARDS);
  lua_setfield(L, -2, "standards");
  lua_pushvalue(L, S_TID);
  lua_setfield(L, -2, "v2TypeId");
  if (max_power >= 0) {
    lua_pushinteger(L, (lua_Integer)max_power);
    lua_setfield(L, -2, "maxPower");
  }
  if (count >= 0) {
    lua_pushinteger(L, (lua_Integer)count);
    lua_setfield(L, -2, "connectorCount");
  }
  if (available >= 0) {
    lua_pushinteger(L, (lua_Integer)available);
    lua_setfield(L, -2, "availableConnectorCount");
  }
  lua_pushvalue(L, S_REFS);
  lua_setfield(L, -2, "connectors");
}

static int v2_to_v3(lua_State *L) {
  double lat = 0, lng = 0;
  int ngroups = 0, n, gi;
  finder ev;
  lua_settop(L, 3);
  if (lua_type(L, 2) != LUA_TSTRING)
    return evcp_error(L, "evcp.v2.station.to_v3: argument #2 (where) must be a string, got %s",
                      luaL_typename(L, 2));
  if (!lua_isnil(L, 3) && lua_type(L, 3) != LUA_TNUMBER)
    return evcp_error(L, "evcp.v2.station.to_v3: argument #3 (i) must be a number or nil, got %s",
                      luaL_typename(L, 3));
  if (lua_type(L, 1) != LUA_TTABLE) return fail(L, ": expected a station object");
  luaL_checkstack(L, S_TOP + 20, "evcp.v2.station.to_v3");
  lua_getfield(L, 1, "position");
  if (lua_type(L, -1) == LUA_TTABLE) {
    int ok;
    lua_getfield(L, -1, "latitude");
    lua_getfield(L, -2, "longitude");
    ok = finite_at(L, -2, &lat) && finite_at(L, -1, &lng);
    lua_pop(L, 3);
    if (!ok || lat < -90 || lat > 90 || lng < -180 || lng > 180)
      return fail(L, ".position: expected latitude and longitude numbers");
  } else {
    lua_pop(L, 1);
    return fail(L, ".position: expected latitude and longitude numbers");
  }
  if (!push_text_field(L, 1, "poolId") && !push_text_field(L, 1, "id"))
    return fail(L, ": station has neither poolId nor id");
  /* S_POOL is on top; the other slots start as nil */
  lua_settop(L, S_TOP - 1);
  if (push_text_field(L, 1, "brand")) lua_replace(L, S_BRAND);
  ev.n = 0;
  ev.map = S_BYUID;
  n = push_list(L, 1, "connectors", "connector");
  lua_replace(L, S_LIST);
  for (gi = 1;; gi++) { /* as ipairs: up to the first nil */
    push_item(L, S_LIST, n, gi);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    lua_replace(L, S_GROUP);
    if (lua_type(L, S_GROUP) != LUA_TTABLE) continue;
    convert_group(L, gi, &ev); /* pushes the group entry */
    if (lua_isnil(L, S_GROUPS)) {
      lua_createtable(L, 2, 0);
      lua_replace(L, S_GROUPS);
    }
    lua_rawseti(L, S_GROUPS, ++ngroups);
  }
  /* the Location table */
  lua_settop(L, S_TOP - 1);
  lua_createtable(L, 0, 11); /* S_TOP */
  lua_pushliteral(L, "here:evcp:charginglocation:");
  lua_pushvalue(L, S_POOL);
  lua_concat(L, 2);
  lua_setfield(L, -2, "id");
  lua_createtable(L, 0, 2); /* the numbers as the station has them */
  lua_getfield(L, 1, "position");
  lua_getfield(L, -1, "latitude");
  lua_setfield(L, -3, "lat");
  lua_getfield(L, -1, "longitude");
  lua_setfield(L, -3, "lng");
  lua_pop(L, 1);
  lua_setfield(L, -2, "location");
  set_copy(L, S_TOP, "name", 1, "name");
  set_copy(L, S_TOP, "timeZone", 1, "timeZone");
  if (push_text_field(L, 1, "cpoId")) lua_setfield(L, -2, "cpoLocationId");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "v2");
  lua_getfield(L, 1, "address");
  if (lua_type(L, -1) == LUA_TTABLE) {
    int a = lua_gettop(L);
    lua_createtable(L, 0, 9);
    set_copy(L, a + 1, "label", a, "unparsedAddress");
    set_copy(L, a + 1, "street", a, "street");
    set_copy(L, a + 1, "houseNumber", a, "streetNumber");
    set_copy(L, a + 1, "city", a, "city");
    set_copy(L, a + 1, "district", a, "district");
    set_copy(L, a + 1, "county", a, "county");
    set_copy(L, a + 1, "state", a, "state");
    set_copy(L, a + 1, "countryCode", a, "country");
    set_copy(L, a + 1, "postalCode", a, "postalCode");
    lua_setfield(L, S_TOP, "address");
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "entrancePosition");
  if (lua_type(L, -1) == LUA_TTABLE) {
    double elat, elng;
    lua_getfield(L, -1, "latitude");
    lua_getfield(L, -2, "longitude");
    if (finite_at(L, -2, &elat) && finite_at(L, -1, &elng)) {
      lua_createtable(L, 1, 0);
      lua_createtable(L, 0, 2);
      lua_pushvalue(L, -4);
      lua_setfield(L, -2, "lat");
      lua_pushvalue(L, -3);
      lua_setfield(L, -2, "lng");
      lua_rawseti(L, -2, 1);
      lua_setfield(L, S_TOP, "accessPoints");
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  if (!lua_isnil(L, S_BRAND) || !lua_isnil(L, S_PARTNER)) {
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, S_BRAND);
    lua_setfield(L, -2, "name");
    lua_pushvalue(L, S_PARTNER);
    lua_setfield(L, -2, "partnerId");
    lua_setfield(L, S_TOP, "operator");
  }
  lua_pushvalue(L, S_EVSES);
  lua_setfield(L, S_TOP, "evses");
  lua_pushvalue(L, S_GROUPS);
  lua_setfield(L, S_TOP, "connectorGroups");
  return 1;
}

/*
 * core.v2_station_converter(standards, status, status_fn) -> to_v3
 * (see the header). Raises on arguments of the wrong type.
 */
static int core_v2_station_converter(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE)
    return evcp_error(L, "core.v2_station_converter: argument #1 (standards) must be a table, got %s",
                      luaL_typename(L, 1));
  if (lua_type(L, 2) != LUA_TTABLE)
    return evcp_error(L, "core.v2_station_converter: argument #2 (status) must be a table, got %s",
                      luaL_typename(L, 2));
  if (lua_type(L, 3) != LUA_TFUNCTION)
    return evcp_error(L, "core.v2_station_converter: argument #3 (status_fn) must be a function, got %s",
                      luaL_typename(L, 3));
  lua_settop(L, 3);
  lua_pushcclosure(L, v2_to_v3, 3);
  return 1;
}

int evcp_v2station_open(lua_State *L) {
  lua_pushcfunction(L, core_v2_station_converter);
  lua_setfield(L, -2, "v2_station_converter");
  return 0;
}
