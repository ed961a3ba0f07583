/* event.h — one audit record: canonical JSON (sorted keys, no insignificant whitespace,
 * UTF-8) {"actor","details","seq","time","type"}; rendering, and strict parsing that
 * accepts only the exact bytes rendering would produce. */
#ifndef ESCORT_AUDIT_EVENT_H
#define ESCORT_AUDIT_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define AUDIT_EVENT_MAX ((size_t)1 << 20) /* one record, in bytes */
#define AUDIT_TYPE_MAX 64
#define AUDIT_ACTOR_MAX 256
#define AUDIT_TYPE_STH "sth" /* reserved for the log's own signed tree heads */
#define AUDIT_ACTOR_LOG "escort"

typedef struct audit_event {
	uint64_t seq;
	int64_t time_us;  /* microseconds since the epoch, UTC */
	const char *type;  /* borrowed from root */
	const char *actor; /* borrowed from root */
	json_t *details;   /* borrowed from root */
	json_t *root;      /* owned */
} audit_event;

/* 1 when type is acceptable ([a-z0-9._-], 1..64 chars), else 0. */
int audit_type_valid(const char *type);
/* Renders the canonical record into out (appended). details must be an object (borrowed).
 * ESC_EINVAL for a bad type/actor/details, ESC_ETOOBIG over AUDIT_EVENT_MAX. */
int audit_event_render(uint64_t seq, int64_t time_us, const char *type, const char *actor,
                       const json_t *details, buf *out);
/* Parses one record. ESC_EPARSE with a reason in why (may be NULL) when the bytes are not
 * exactly a canonical record. On success *ev owns a reference; free with audit_event_free. */
int audit_event_parse(const void *data, size_t len, audit_event *ev, char *why, size_t whylen);
void audit_event_free(audit_event *ev);
/* Fast shape check for bulk verification: reads seq and type from the tail of a record
 * ({"actor":"...",...,"seq":N,"time":"<27>","type":"T"}; sorted keys put these last and
 * their values cannot contain quotes) without parsing details. ESC_EPARSE if the shape is
 * wrong. type needs AUDIT_TYPE_MAX + 1 bytes. */
int audit_event_peek(const void *data, size_t len, uint64_t *seq, char *type);

/* "2026-11-25T07:31:41.123456Z"; out needs 28 bytes. */
int audit_time_format(int64_t us, char *out, size_t outlen);
/* Exact inverse of audit_time_format; ESC_EPARSE otherwise. */
int audit_time_parse(const char *s, int64_t *us);
/* Current UTC time in microseconds. */
int64_t audit_time_now(void);

#endif
