/*
 * schema.h: the compiled v2 schema (core.xml_schema, built in xml.c) as the
 * decoders read it: which element names are arrays, numbers, integers or
 * booleans, everywhere or only under some parent names. xml.c's decoder and
 * normalizer and json_decode.c's decoder look names up with schema_find and
 * entry_kinds; nothing else knows the layout.
 */
#ifndef EVCP_SCHEMA_H
#define EVCP_SCHEMA_H

#include <stddef.h>
#include <string.h>

#define EVCP_XMLSCHEMA "evcp.XmlSchema"

enum { K_ARRAY = 1, K_NUMBER = 2, K_BOOLEAN = 4, K_INTEGER = 8 };

typedef struct {
  const char *name;
  size_t len;
  unsigned always;         /* kinds that hold under any parent */
  int cond_first, cond_n;  /* kinds that hold under some parents */
} sentry;

typedef struct {
  const char *parent;
  size_t len;
  unsigned kind;
  int root; /* parent is "ROOT": also holds under the root element */
} scond;

typedef struct {
  int nentries, hcap; /* hcap: a power of two >= 2 * nentries */
  int *slots;         /* entry index + 1, or 0 */
  sentry *entries;
  scond *conds;
} xschema;

static inline unsigned hash_name(const char *s, size_t n) {
  unsigned h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* The schema entry of `name`, or NULL. */
static inline const sentry *schema_find(const xschema *sc, const char *name, size_t len) {
  unsigned h = hash_name(name, len) & (unsigned)(sc->hcap - 1);
  for (;;) {
    int ix = sc->slots[h];
    const sentry *e;
    if (ix == 0) return NULL;
    e = &sc->entries[ix - 1];
    if (e->len == len && memcmp(e->name, name, len) == 0) return e;
    h = (h + 1) & (unsigned)(sc->hcap - 1);
  }
}

/* The kinds of entry e (NULL: none) under the parent named p[0..plen);
 * is_root: the parent is the root element. */
static inline unsigned entry_kinds(const xschema *sc, const sentry *e, const char *p, size_t plen,
                            int is_root) {
  unsigned k;
  int i;
  if (e == NULL) return 0;
  k = e->always;
  for (i = 0; i < e->cond_n; i++) {
    const scond *c = &sc->conds[e->cond_first + i];
    if ((is_root && c->root) || (c->len == plen && memcmp(c->parent, p, plen) == 0)) k |= c->kind;
  }
  return k;
}

#endif
