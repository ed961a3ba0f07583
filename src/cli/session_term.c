/* session_term.c — the operator's terminal in `escort session start`: libedit (BSD
 * editline, emacs keys, history of the session's lines) on a terminal, plain line input
 * from a pipe or file. libedit reads through our own character function so that waiting
 * for a key also watches the session (the kill switch) and Ctrl-C abandons the line. */
#include "cli/session_term.h"

#include <errno.h>
#include <histedit.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "util/err.h"
#include "workflow/workflow.h"

#define TICK_MS 200
#define HISTORY_LINES 1000

struct sterm {
	int tty;
	int (*tick)(void *);
	void *ctx;
	char prompt[400];
	/* plain input */
	buf in;
	int eof;
	/* libedit */
	EditLine *el;
	History *hist;
	mbstate_t mbs;
	int why; /* why the character function gave up: -1 Ctrl-C, -3 ended, 0 end of input */
	char *old_locale;
};

static volatile sig_atomic_t got_sigint, got_term;
static struct sigaction old_int, old_term, old_hup;

static void
on_signal(int sig)
{
	if (sig == SIGINT)
		got_sigint = 1;
	else
		got_term = 1; /* SIGTERM, SIGHUP: end the session properly */
}

void
sterm_signals(int on)
{
	struct sigaction sa;

	if (!on) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: Ctrl-C must end a read */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
}

int
sterm_take_sigint(void)
{
	if (!got_sigint)
		return 0;
	got_sigint = 0;
	return 1;
}

int
sterm_term(void)
{
	return got_term != 0;
}

int
sterm_tty(const sterm *t)
{
	return t && t->tty;
}

/* Waits for input on fd 0: 1 readable, 0 never (t->why set). */
static int
wait_input(sterm *t)
{
	struct pollfd pf = { 0, POLLIN, 0 };
	int pr;

	for (;;) {
		if (got_term) {
			t->why = 0;
			return 0;
		}
		if (got_sigint) {
			got_sigint = 0;
			t->why = -1;
			return 0;
		}
		pr = poll(&pf, 1, TICK_MS);
		if (pr > 0)
			return 1;
		if (pr < 0 && errno != EINTR) {
			t->why = 0;
			return 0;
		}
		if (pr == 0 && t->tick && t->tick(t->ctx)) {
			t->why = -3;
			return 0;
		}
	}
}

/* ---- libedit ---- */

static char *
prompt_of(EditLine *el)
{
	void *p = NULL;

	el_get(el, EL_CLIENTDATA, &p);
	return p ? ((sterm *)p)->prompt : (char *)"";
}

/* libedit's character source: one character, 1; 0 at the end; -1 to give up the line. */
static int
getc_fn(EditLine *el, wchar_t *wc)
{
	void *p = NULL;
	sterm *t;
	unsigned char c;
	ssize_t k;
	size_t r;

	el_get(el, EL_CLIENTDATA, &p);
	t = p;
	for (;;) {
		if (!wait_input(t))
			return t->why == 0 ? 0 : -1;
		k = read(0, &c, 1);
		if (k < 0 && errno == EINTR)
			continue; /* wait_input looks at the signal */
		if (k <= 0) {
			t->why = 0;
			return 0;
		}
		r = mbrtowc(wc, (const char *)&c, 1, &t->mbs);
		if (r == (size_t)-2)
			continue; /* the rest of a UTF-8 sequence follows */
		if (r == (size_t)-1) {
			memset(&t->mbs, 0, sizeof(t->mbs));
			*wc = (wchar_t)0xFFFD;
		}
		return 1;
	}
}

static int
el_open(sterm *t)
{
	HistEvent ev;
	const char *cur = setlocale(LC_CTYPE, NULL);

	/* libedit edits characters: the terminal's multibyte encoding, UTF-8 when the
	 * environment names none (the C locale would reject every byte over 0x7f) */
	if (cur && (t->old_locale = strdup(cur)) == NULL)
		return ESC_ENOMEM;
	if (setlocale(LC_CTYPE, "") == NULL || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		(void)setlocale(LC_CTYPE, "C.UTF-8");
	if ((t->el = el_init("escort", stdin, stdout, stderr)) == NULL ||
	    (t->hist = history_init()) == NULL)
		return ESC_ENOMEM;
	history(t->hist, &ev, H_SETSIZE, HISTORY_LINES);
	history(t->hist, &ev, H_SETUNIQUE, 1);
	el_set(t->el, EL_CLIENTDATA, (void *)t);
	el_set(t->el, EL_EDITOR, "emacs");
	el_set(t->el, EL_SIGNAL, 0); /* our handlers: Ctrl-C must reach wait_input */
	el_set(t->el, EL_PROMPT, prompt_of);
	el_set(t->el, EL_HIST, history, t->hist);
	el_set(t->el, EL_GETCFN, getc_fn);
	return 0;
}

static int
el_read(sterm *t, buf *line)
{
	const char *s;
	HistEvent ev;
	int n = 0;
	size_t len;

	memset(&t->mbs, 0, sizeof(t->mbs));
	t->why = 0;
	s = el_gets(t->el, &n);
	if (s == NULL || n <= 0) {
		if (t->why == -1 || t->why == -3) {
			el_reset(t->el);
			return t->why;
		}
		return 0; /* Ctrl-D on an empty line, or the end of input */
	}
	len = strlen(s);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	buf_reset(line);
	if (buf_put(line, s, len) != 0)
		return -2;
	if (len) {
		char *h = strndup(s, len);

		if (h)
			history(t->hist, &ev, H_ENTER, h);
		free(h);
	}
	return 1;
}

/* ---- plain input ---- */

static int
plain_read(sterm *t, buf *line)
{
	unsigned char ch[4096];
	unsigned char *nl;
	ssize_t k;

	for (;;) {
		if ((nl = t->in.len ? memchr(t->in.data, '\n', t->in.len) : NULL) != NULL) {
			size_t n = (size_t)(nl - t->in.data);

			buf_reset(line);
			if (buf_put(line, t->in.data, n) != 0) {
				buf_consume(&t->in, n + 1);
				return -2;
			}
			buf_consume(&t->in, n + 1);
			if (line->len && line->data[line->len - 1] == '\r')
				buf_truncate(line, line->len - 1);
			return 1;
		}
		if (t->eof) {
			if (t->in.len == 0)
				return 0;
			/* a last line without a newline */
			buf_reset(line);
			(void)buf_put(line, t->in.data, t->in.len);
			buf_reset(&t->in);
			return 1;
		}
		if (!wait_input(t)) {
			if (t->why == -1)
				buf_reset(&t->in);
			return t->why;
		}
		k = read(0, ch, sizeof(ch));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			t->eof = 1;
			continue;
		}
		if (buf_put(&t->in, ch, (size_t)k) != 0) {
			buf_reset(&t->in);
			return -2;
		}
	}
}

int
sterm_open(sterm **out, int64_t id, const char *target, int (*tick)(void *), void *ctx)
{
	sterm *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (t == NULL)
		return ESC_ENOMEM;
	t->tty = isatty(0) && isatty(1);
	t->tick = tick;
	t->ctx = ctx;
	buf_init(&t->in, WF_CMD_MAX + 1);
	snprintf(t->prompt, sizeof(t->prompt), "escort[%" PRId64 "] %s$ ", id, target);
	if (t->tty && (rc = el_open(t)) != 0) {
		sterm_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
sterm_read(sterm *t, buf *line)
{
	got_sigint = 0;
	if (t->el)
		return el_read(t, line);
	return plain_read(t, line);
}

void
sterm_close(sterm *t)
{
	if (t == NULL)
		return;
	if (t->el)
		el_end(t->el);
	if (t->hist)
		history_end(t->hist);
	if (t->old_locale) {
		(void)setlocale(LC_CTYPE, t->old_locale);
		free(t->old_locale);
	}
	buf_free(&t->in);
	free(t);
}
