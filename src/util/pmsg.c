/* pmsg.c — the privilege-separation message codec (pmsg.h): little-endian typed fields
 * with bounds-checked getters, and one-datagram send/receive over SOCK_SEQPACKET. */
#include "util/pmsg.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/err.h"

int
pmsg_begin(buf *b, int type)
{
	uint8_t h[PMSG_HDR];

	if (type < 1 || type > 255)
		return ESC_EINVAL;
	buf_reset(b);
	h[0] = PMSG_VERSION;
	h[1] = (uint8_t)type;
	return buf_put(b, h, sizeof(h));
}

static int
put_le(buf *b, uint64_t v, size_t n)
{
	uint8_t x[8];
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	if (b->len + n > PMSG_MAX)
		return ESC_ETOOBIG;
	return buf_put(b, x, n);
}

int
pmsg_put_u8(buf *b, uint8_t v)
{
	return put_le(b, v, 1);
}

int
pmsg_put_u32(buf *b, uint32_t v)
{
	return put_le(b, v, 4);
}

int
pmsg_put_u64(buf *b, uint64_t v)
{
	return put_le(b, v, 8);
}

int
pmsg_put_i64(buf *b, int64_t v)
{
	return put_le(b, (uint64_t)v, 8);
}

int
pmsg_put_raw(buf *b, const void *p, size_t n)
{
	if (n > PMSG_MAX || b->len + n > PMSG_MAX)
		return ESC_ETOOBIG;
	return buf_put(b, p, n);
}

int
pmsg_put_bytes(buf *b, const void *p, size_t n)
{
	int rc;

	if (n > PMSG_FIELD_MAX)
		return ESC_ETOOBIG;
	if ((rc = pmsg_put_u32(b, (uint32_t)n)) != 0)
		return rc;
	return pmsg_put_raw(b, p, n);
}

int
pmsg_put_str(buf *b, const char *s)
{
	int rc;

	if (s == NULL)
		return pmsg_put_u8(b, 0);
	if ((rc = pmsg_put_u8(b, 1)) != 0)
		return rc;
	return pmsg_put_bytes(b, s, strlen(s));
}

int
pmsg_open(pmsg_rd *r, const void *data, size_t len)
{
	const uint8_t *p = data;

	memset(r, 0, sizeof(*r));
	if (data == NULL || len < PMSG_HDR || len > PMSG_MAX || p[0] != PMSG_VERSION || p[1] == 0)
		return ESC_EPARSE;
	r->p = p;
	r->len = len;
	r->off = PMSG_HDR;
	r->type = p[1];
	return 0;
}

static int
get_le(pmsg_rd *r, uint64_t *v, size_t n)
{
	size_t i;

	*v = 0;
	if (r->len - r->off < n)
		return ESC_EPARSE;
	for (i = 0; i < n; i++)
		*v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += n;
	return 0;
}

int
pmsg_get_u8(pmsg_rd *r, uint8_t *v)
{
	uint64_t x;
	int rc = get_le(r, &x, 1);

	*v = (uint8_t)x;
	return rc;
}

int
pmsg_get_u32(pmsg_rd *r, uint32_t *v)
{
	uint64_t x;
	int rc = get_le(r, &x, 4);

	*v = (uint32_t)x;
	return rc;
}

int
pmsg_get_u64(pmsg_rd *r, uint64_t *v)
{
	return get_le(r, v, 8);
}

int
pmsg_get_i64(pmsg_rd *r, int64_t *v)
{
	uint64_t x;
	int rc = get_le(r, &x, 8);

	*v = (int64_t)x;
	return rc;
}

int
pmsg_get_raw(pmsg_rd *r, void *out, size_t n)
{
	if (r->len - r->off < n) {
		memset(out, 0, n);
		return ESC_EPARSE;
	}
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

int
pmsg_get_bytes(pmsg_rd *r, const uint8_t **p, size_t *n, size_t max)
{
	uint32_t l;
	int rc;

	*p = NULL;
	*n = 0;
	if ((rc = pmsg_get_u32(r, &l)) != 0)
		return rc;
	if (l > max || l > PMSG_FIELD_MAX || r->len - r->off < l)
		return ESC_EPARSE;
	*p = r->p + r->off;
	*n = l;
	r->off += l;
	return 0;
}

int
pmsg_get_str(pmsg_rd *r, char **s, size_t max)
{
	const uint8_t *p;
	uint8_t present;
	size_t n;
	int rc;

	*s = NULL;
	if ((rc = pmsg_get_u8(r, &present)) != 0)
		return rc;
	if (present == 0)
		return 0;
	if (present != 1 || (rc = pmsg_get_bytes(r, &p, &n, max)) != 0)
		return ESC_EPARSE;
	if (n && memchr(p, 0, n) != NULL)
		return ESC_EPARSE;
	if ((*s = malloc(n + 1)) == NULL)
		return ESC_ENOMEM;
	memcpy(*s, p, n);
	(*s)[n] = 0;
	return 0;
}

int
pmsg_end(const pmsg_rd *r)
{
	return r->off == r->len ? 0 : ESC_EPARSE;
}

int
pmsg_send(int fd, const buf *b)
{
	ssize_t n;

	if (b->len < PMSG_HDR || b->len > PMSG_MAX)
		return ESC_EINVAL;
	do
		n = send(fd, b->data, b->len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != b->len)
		return ESC_EIO;
	return 0;
}

int
pmsg_recv(int fd, buf *b, pmsg_rd *r, int timeout_ms)
{
	return pmsg_recv_fd(fd, b, r, timeout_ms, NULL);
}

int
pmsg_recv_fd(int fd, buf *b, pmsg_rd *r, int timeout_ms, int *passed)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	ssize_t n;
	int rc, bad = 0, got = -1;

	if (passed)
		*passed = -1;
	memset(r, 0, sizeof(*r));
	if (b->max != PMSG_MAX + 1) {
		buf_free(b);
		buf_init(b, PMSG_MAX + 1);
	}
	buf_reset(b); /* the storage is reused from one datagram to the next */
	/* one byte more than allowed, so an oversized datagram shows as MSG_TRUNC or length */
	if ((rc = buf_reserve(b, PMSG_MAX + 1)) != 0)
		return rc;
	if (timeout_ms >= 0) {
		do
			rc = poll(&pfd, 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0)
			errno = ETIMEDOUT;
		if (rc <= 0)
			return ESC_EIO;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = b->data;
	iov.iov_len = PMSG_MAX + 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof(ctl.space);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ESC_EIO;
	if (n == 0)
		return ESC_ENOENT;
	/* every descriptor that arrived is closed unless it is the one the caller takes: any
	 * ancillary data other than one descriptor for a caller that takes one is malformed */
	for (c = mh.msg_controllen ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k, nfd;
		int v;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			memcpy(&v, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (passed && got < 0)
				got = v;
			else {
				close(v);
				bad = 1;
			}
		}
	}
	if (!passed && mh.msg_controllen != 0)
		bad = 1;
	if (bad || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n > PMSG_MAX)
		rc = ESC_EPARSE;
	else {
		b->len = (size_t)n;
		b->data[n] = 0;
		rc = pmsg_open(r, b->data, b->len);
	}
	if (rc != 0 && got >= 0)
		close(got);
	else if (passed)
		*passed = got;
	return rc;
}

int
pmsg_send_fd(int sock, const buf *b, int fd)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	ssize_t n;

	if (fd < 0)
		return pmsg_send(sock, b);
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = b->data;
	iov.iov_len = b->len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof(ctl.space);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 || (size_t)n != b->len ? ESC_EIO : 0;
}

int
pmsg_client_failed(pmsg_client *c)
{
	struct pollfd p;
	int d;

	if (!c->attached || pthread_mutex_trylock(&c->mu) != 0)
		return 0;
	if (!c->dead) {
		p.fd = c->fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 0) != 0)
			c->dead = 1;
	}
	d = c->dead;
	pthread_mutex_unlock(&c->mu);
	return d;
}
