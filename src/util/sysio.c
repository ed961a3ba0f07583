/* sysio.c — a monotonic clock in milliseconds and a write that does not stop half way
 * (see sysio.h). */
#include "util/sysio.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

int64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
util_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *q = p;
	ssize_t k;

	while (n) {
		k = write(fd, q, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		q += k;
		n -= (size_t)k;
	}
	return 0;
}
