/* sysio.h — two small system helpers that several parts need: a monotonic clock in
 * milliseconds (for timeouts and polling, immune to clock changes) and a write that
 * retries short writes and EINTR. */
#ifndef ESCORT_UTIL_SYSIO_H
#define ESCORT_UTIL_SYSIO_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t util_mono_ms(void);
/* Writes all n bytes to fd, retrying on EINTR and short writes: 0, or -1 with errno set
 * (a write that returns 0 counts as EIO). */
int util_write_all(int fd, const void *p, size_t n);

#endif
