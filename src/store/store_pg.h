/* store_pg.h — the PostgreSQL backend's opener, private to src/store: everyone else opens
 * a store with store_open_url, which picks the backend from the spec. */
#ifndef ESCORT_STORE_STORE_PG_H
#define ESCORT_STORE_STORE_PG_H

#include <stddef.h>

#include "store/store.h"

/* Connects with a libpq conninfo (URL or key=value), sets the session up and migrates
 * the schema (creating it only when create is set). err gets a message on failure that
 * never repeats the conninfo (it may hold a password). */
int store_open_pg(store **out, const char *conninfo, int create, char *err, size_t errlen);

#endif
