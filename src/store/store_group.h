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
/* From the first store_group_begin on, this connection makes no checkpoints of its own
 * (they would run inside a commit): the caller has them done, by store_group_checkpoint
 * on another connection of the same database, and by this one between groups so that the
 * WAL can start over. store_group_wal_frames: the WAL's size in frames after the last
 * commit of this connection (0 for another store). */
size_t store_group_wal_frames(store *s);
/* A PASSIVE checkpoint (never waits for the writer; copies what is committed into the
 * database file and syncs it). 0, or ESC_E* with the message in store_error. */
int store_group_checkpoint(store *s);

#endif
