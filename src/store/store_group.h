/* store_group.h — group commit for a long-running writer (escortd): many workflow
 * transactions inside one store transaction, so they share one durable commit. SQLite
 * only (another store answers ESC_EINVAL and the caller stays with one transaction each). */
#ifndef ESCORT_STORE_STORE_GROUP_H
#define ESCORT_STORE_STORE_GROUP_H

#include "store/store.h"

/* BEGIN IMMEDIATE; until store_group_end, store_begin / store_commit / store_rollback on
 * this handle become SAVEPOINT / RELEASE / ROLLBACK TO, so each inner transaction still
 * succeeds or leaves nothing, but nothing is durable before the group commits. */
int store_group_begin(store *s);
/* commit 1: COMMIT (durable: synchronous FULL); 0 or a failed COMMIT: everything of the
 * group is rolled back. */
int store_group_end(store *s, int commit);

#endif
