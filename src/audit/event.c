/* event.c — canonical JSON audit records via jansson (JSON_SORT_KEYS | JSON_COMPACT).
 * Parsing re-renders and compares bytes, so exactly one byte string is valid per record:
 * what is hashed is what an auditor reads. */
#include "audit/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"

static void
set_why(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

int
audit_type_valid(const char *type)
{
	size_t i, n = strlen(type);

	if (n == 0 || n > AUDIT_TYPE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = type[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int64_t
audit_time_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
audit_time_format(int64_t us, char *out, size_t outlen)
{
	time_t secs;
	struct tm tm;
	int n;

	if (us < 0 || outlen < 28)
		return ESC_EINVAL;
	secs = (time_t)(us / 1000000);
	if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return ESC_EINVAL;
	n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
	             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             (int)(us % 1000000));
	return (n == 27) ? 0 : ESC_EINVAL;
}

int
audit_time_parse(const char *s, int64_t *us)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, frac, n = 0;
	time_t t;
	char back[32];

	if (strlen(s) != 27)
		return ESC_EPARSE;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ%n", &y, &mo, &d, &h, &mi, &sec, &frac, &n) != 7 ||
	    n != 27)
		return ESC_EPARSE;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    frac < 0)
		return ESC_EPARSE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return ESC_EPARSE;
	*us = (int64_t)t * 1000000 + frac;
	/* only the canonical spelling (no 31 February, no leap second) round-trips */
	if (audit_time_format(*us, back, sizeof(back)) || strcmp(back, s) != 0)
		return ESC_EPARSE;
	return 0;
}

int
audit_event_render(uint64_t seq, int64_t time_us, const char *type, const char *actor,
                   const json_t *details, buf *out)
{
	json_t *o = NULL;
	char tbuf[32];
	char *s = NULL;
	size_t slen;
	int rc = ESC_EINVAL;

	if (!type || !actor || !details || !json_is_object(details) || !audit_type_valid(type) ||
	    actor[0] == '\0' || strlen(actor) > AUDIT_ACTOR_MAX || seq > (uint64_t)INT64_MAX)
		goto out;
	if (audit_time_format(time_us, tbuf, sizeof(tbuf)))
		goto out;
	rc = ESC_ENOMEM;
	o = json_object();
	if (o == NULL)
		goto out;
	rc = ESC_EINVAL; /* json_string fails on invalid UTF-8 */
	if (json_object_set_new(o, "actor", json_string(actor)) ||
	    json_object_set(o, "details", (json_t *)details) ||
	    json_object_set_new(o, "seq", json_integer((json_int_t)seq)) ||
	    json_object_set_new(o, "time", json_string(tbuf)) ||
	    json_object_set_new(o, "type", json_string(type)))
		goto out;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (s == NULL)
		goto out;
	slen = strlen(s);
	rc = ESC_ETOOBIG;
	if (slen > AUDIT_EVENT_MAX)
		goto out;
	rc = buf_put(out, s, slen);
out:
	free(s);
	json_decref(o);
	return rc;
}

int
audit_event_parse(const void *data, size_t len, audit_event *ev, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root = NULL, *jseq, *jtime, *jtype, *jactor, *jdet;
	buf again = BUF_INIT;
	int rc = ESC_EPARSE;
	char msg[200];

	memset(ev, 0, sizeof(*ev));
	if (len > AUDIT_EVENT_MAX) {
		set_why(why, whylen, "record too large");
		goto out;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(msg, sizeof(msg), "record is not JSON: %s (column %d)", jerr.text,
		         jerr.column);
		set_why(why, whylen, msg);
		goto out;
	}
	jseq = json_object_get(root, "seq");
	jtime = json_object_get(root, "time");
	jtype = json_object_get(root, "type");
	jactor = json_object_get(root, "actor");
	jdet = json_object_get(root, "details");
	if (!json_is_object(root) || json_object_size(root) != 5 || !json_is_integer(jseq) ||
	    json_integer_value(jseq) < 0 || !json_is_string(jtime) || !json_is_string(jtype) ||
	    !json_is_string(jactor) || !json_is_object(jdet)) {
		set_why(why, whylen, "record lacks the fields actor, details, seq, time, type");
		goto out;
	}
	ev->seq = (uint64_t)json_integer_value(jseq);
	if (audit_time_parse(json_string_value(jtime), &ev->time_us)) {
		set_why(why, whylen, "record time is not YYYY-MM-DDTHH:MM:SS.uuuuuuZ");
		goto out;
	}
	ev->type = json_string_value(jtype);
	ev->actor = json_string_value(jactor);
	ev->details = jdet;
	if (audit_event_render(ev->seq, ev->time_us, ev->type, ev->actor, jdet, &again)) {
		set_why(why, whylen, "record has an invalid type or actor");
		goto out;
	}
	if (again.len != len || memcmp(again.data, data, len) != 0) {
		set_why(why, whylen, "record is not in canonical form");
		goto out;
	}
	ev->root = root;
	root = NULL;
	rc = 0;
out:
	if (rc)
		memset(ev, 0, sizeof(*ev));
	buf_free(&again);
	json_decref(root);
	return rc;
}

void
audit_event_free(audit_event *ev)
{
	if (ev == NULL)
		return;
	json_decref(ev->root);
	memset(ev, 0, sizeof(*ev));
}

int
audit_event_peek(const void *data, size_t len, uint64_t *seq, char *type)
{
	static const char pre[] = "{\"actor\":\"", ktype[] = ",\"type\":\"",
	                  ktime[] = ",\"time\":\"", kseq[] = ",\"seq\":";
	const char *p = data;
	size_t e, t, i, nd;
	uint64_t v = 0;

	if (len < sizeof(pre) + 64 || memcmp(p, pre, sizeof(pre) - 1) != 0 || p[len - 1] != '}' ||
	    p[len - 2] != '"')
		return ESC_EPARSE;
	/* type: [a-z0-9._-]+ between `,"type":"` and `"}` */
	e = len - 2;
	for (t = e; t > 0; t--) {
		char c = p[t - 1];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			break;
	}
	if (e - t < 1 || e - t > AUDIT_TYPE_MAX || t < sizeof(ktype) - 1 + 37 + 16)
		return ESC_EPARSE;
	if (memcmp(p + t - (sizeof(ktype) - 1), ktype, sizeof(ktype) - 1) != 0)
		return ESC_EPARSE;
	memcpy(type, p + t, e - t);
	type[e - t] = '\0';
	/* time: `,"time":"` 27 characters `"` */
	t -= sizeof(ktype) - 1;
	if (p[t - 1] != '"' || memcmp(p + t - 37, ktime, sizeof(ktime) - 1) != 0)
		return ESC_EPARSE;
	for (i = t - 28; i < t - 1; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == ':' || p[i] == 'T' ||
		      p[i] == '.' || p[i] == 'Z'))
			return ESC_EPARSE;
	t -= 37;
	/* seq: digits after `,"seq":` */
	for (nd = 0; nd < 20 && t - nd > 0 && p[t - nd - 1] >= '0' && p[t - nd - 1] <= '9'; nd++)
		;
	if (nd == 0 || nd > 19 || (nd > 1 && p[t - nd] == '0') || t - nd < sizeof(kseq) - 1 ||
	    memcmp(p + t - nd - (sizeof(kseq) - 1), kseq, sizeof(kseq) - 1) != 0)
		return ESC_EPARSE;
	for (i = t - nd; i < t; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	if (v > (uint64_t)INT64_MAX)
		return ESC_EPARSE;
	*seq = v;
	return 0;
}
