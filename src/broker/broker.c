/* broker.c — the transport-independent part of the broker: dispatch by transport, the
 * output sink (per-stream cap, SHA-256 of everything, arrival-order callback), results,
 * and POSIX shell quoting. */
#include "broker/broker_int.h"
#include "broker/broker_priv.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

int64_t
bk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned
bk_timeout_ms(const broker_limits *lim)
{
	return lim && lim->timeout_ms ? lim->timeout_ms : BROKER_TIMEOUT_DEFAULT_MS;
}

int
bk_sink_init(bk_sink *s, broker_result *res, const broker_limits *lim)
{
	int i;

	s->res = res;
	s->lim = lim;
	s->max = lim && lim->out_max ? lim->out_max : BROKER_OUT_MAX;
	for (i = 0; i < 2; i++) {
		s->md[i] = EVP_MD_CTX_new();
		if (s->md[i] == NULL || EVP_DigestInit_ex(s->md[i], EVP_sha256(), NULL) != 1) {
			EVP_MD_CTX_free(s->md[0]);
			EVP_MD_CTX_free(s->md[1]);
			s->md[0] = s->md[1] = NULL;
			return ESC_ENOMEM;
		}
	}
	return 0;
}

void
bk_sink_put(bk_sink *s, int stream, const unsigned char *p, size_t n)
{
	int e = stream == BROKER_STDERR;
	buf *b = e ? &s->res->err : &s->res->out;
	size_t room;

	if (n == 0)
		return;
	if (e)
		s->res->err_total += n;
	else
		s->res->out_total += n;
	EVP_DigestUpdate(s->md[e], p, n);
	room = b->len < s->max ? s->max - b->len : 0;
	if (room)
		(void)buf_put(b, p, n < room ? n : room);
	if (s->lim && s->lim->on_output)
		s->lim->on_output(s->lim->ctx, stream, p, n);
}

void
bk_sink_finish(bk_sink *s)
{
	unsigned int olen = 0;

	if (s->md[0])
		EVP_DigestFinal_ex(s->md[0], s->res->out_sha, &olen);
	if (s->md[1])
		EVP_DigestFinal_ex(s->md[1], s->res->err_sha, &olen);
	EVP_MD_CTX_free(s->md[0]);
	EVP_MD_CTX_free(s->md[1]);
	s->md[0] = s->md[1] = NULL;
}

int
broker_new(broker **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : ESC_ENOMEM;
}

void
broker_free(broker *b)
{
	if (b == NULL)
		return;
	bk_ssh_close_all(b);
	free(b);
}

void
broker_disconnect(broker *b, const broker_target *t)
{
	if (b && t && t->transport == BROKER_SSH && broker_priv_active())
		broker_priv_disconnect(t);
	else if (b && t && t->transport == BROKER_SSH)
		bk_ssh_disconnect(b, t);
}

void
broker_result_free(broker_result *res)
{
	if (res == NULL)
		return;
	buf_free(&res->out);
	buf_free(&res->err);
}

int
broker_run(broker *b, const broker_target *t, const unsigned char *cmd, size_t len,
           const broker_limits *lim, broker_result *res, buf *msg)
{
	size_t max = lim && lim->out_max ? lim->out_max : BROKER_OUT_MAX;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, max);
	buf_init(&res->err, max);
	res->exit_code = 255;
	if (b == NULL || t == NULL || (cmd == NULL && len)) {
		buf_puts(msg, "broker: missing target or command");
		return ESC_EINVAL;
	}
	/* bash -c receives a C string: a NUL would silently cut what was approved */
	if (len && memchr(cmd, 0, len) != NULL) {
		buf_printf(msg, "the command for %s contains a NUL byte at offset %zu; refusing to "
		           "run something bash cannot receive exactly", t->name ? t->name : "?",
		           (size_t)((const unsigned char *)memchr(cmd, 0, len) - cmd));
		return ESC_EINVAL;
	}
	if (broker_priv_active()) /* privilege separation: the broker process runs it */
		return broker_priv_run(t, cmd, len, lim, res, msg);
	switch (t->transport) {
	case BROKER_LOCAL:
		return bk_local_run(t, cmd, len, lim, res, msg);
	case BROKER_SSH:
		return bk_ssh_run(b, t, cmd, len, lim, res, msg);
	default:
		buf_printf(msg, "target %s: unknown transport %d", t->name ? t->name : "?",
		           t->transport);
		return ESC_EINVAL;
	}
}

int
broker_shell_quote(buf *out, const unsigned char *p, size_t n)
{
	size_t i, start = 0;
	int rc;

	if ((rc = buf_putc(out, '\'')) != 0)
		return rc;
	/* inside single quotes every byte is literal except the closing quote itself */
	for (i = 0; i < n; i++) {
		if (p[i] != '\'')
			continue;
		if ((rc = buf_put(out, p + start, i - start)) != 0 ||
		    (rc = buf_put(out, "'\\''", 4)) != 0)
			return rc;
		start = i + 1;
	}
	if ((rc = buf_put(out, p + start, n - start)) != 0)
		return rc;
	return buf_putc(out, '\'');
}
