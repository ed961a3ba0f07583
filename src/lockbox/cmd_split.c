/* cmd_split.c — cmd.exe line splitter for lockbox: commands separated by & && || |,
 * words separated by blanks, "..." quoting, ^ escapes outside quotes, ( ) grouping and
 * redirections. %VAR% and !VAR! are kept as written and marked (cmd expands them before
 * running, so their value is unknown here). */
#include "lockbox/pwsh.h"
#include "util/err.h"

#include <string.h>

#define CMD_MAX_WORDS 4096

typedef struct wb {
	buf text;
	size_t start;
	int quoted;
	int has_var;
	int active;
	int paren;   /* ( opened inside this word */
	size_t maxw; /* room in the words array */
} wb;

static int
flush_word(lb_arena *a, wb *w, cmd_word *words, size_t *nw, size_t end, uint32_t base)
{
	if (!w->active)
		return 0;
	if (*nw < w->maxw) {
		cmd_word *cw = &words[*nw];
		cw->text = lb_arena_strndup(a, w->text.data ? (const char *)w->text.data : "",
		    w->text.len);
		if (cw->text == NULL)
			return ESC_ENOMEM;
		cw->len = w->text.len;
		cw->span.start = base + (uint32_t)w->start;
		cw->span.end = base + (uint32_t)end;
		cw->quoted = w->quoted;
		cw->has_var = w->has_var;
		(*nw)++;
	}
	buf_reset(&w->text);
	w->active = w->quoted = w->has_var = w->paren = 0;
	return 0;
}

int
cmd_split(lb_arena *a, const char *src, size_t len, uint32_t base, cmd_cmd *out,
    size_t max, size_t *ncut)
{
	size_t ncmd = 0, cstart = 0;
	int rc = 0;
	wb w;
	memset(&w, 0, sizeof w);
	buf_init(&w.text, len + 16);
	/* scratch for one command's words: filled before use, so not cleared */
	size_t maxw = len / 2 + 2 < CMD_MAX_WORDS ? len / 2 + 2 : CMD_MAX_WORDS;
	cmd_word *words = lb_arena_alloc_raw(a, sizeof *words * maxw, 16);
	size_t nw = 0;
	const char *redir = NULL;
	int redir_next = 0;
	size_t redir_at = 0;
	*ncut = 0;
	if (words == NULL) {
		rc = ESC_ENOMEM;
		goto out;
	}
	w.maxw = maxw;
	int inq = 0;
	size_t i = 0;
	for (;;) {
		int end = i >= len;
		char c = end ? 0 : src[i];
		const char *op = NULL;
		size_t oplen = 0;
		if (!end && !inq) {
			if (c == '&' && i + 1 < len && src[i + 1] == '&')
				op = "&&", oplen = 2;
			else if (c == '|' && i + 1 < len && src[i + 1] == '|')
				op = "||", oplen = 2;
			else if (c == '&')
				op = "&", oplen = 1;
			else if (c == '|')
				op = "|", oplen = 1;
			else if (c == '\n' || c == '\r')
				op = "&", oplen = 1;
		}
		if (end || op) {
			if ((rc = flush_word(a, &w, words, &nw, i, base)) != 0)
				goto out;
			if (redir_next && nw > redir_at) {
				redir = words[nw - 1].text;
				nw--;
			}
			redir_next = 0;
			if (nw) {
				if (ncmd < max) {
					cmd_cmd *cc = &out[ncmd++];
					cc->w = lb_arena_alloc(a, sizeof *cc->w * nw);
					if (cc->w == NULL) {
						rc = ESC_ENOMEM;
						goto out;
					}
					memcpy(cc->w, words, sizeof *words * nw);
					cc->n = nw;
					cc->span.start = words[0].span.start;
					cc->span.end = base + (uint32_t)i;
					if (cc->span.start < base + cstart)
						cc->span.start = base + (uint32_t)cstart;
					cc->op = op;
					cc->redir_out = redir;
				} else {
					(*ncut)++;
				}
			}
			nw = 0;
			redir = NULL;
			if (end)
				break;
			i += oplen;
			cstart = i;
			continue;
		}
		if (c == '"') {
			inq = !inq;
			if (!w.active) {
				w.active = 1;
				w.start = i;
			}
			w.quoted = 1;
			i++;
			continue;
		}
		if (!inq && c == '^') {
			if (i + 1 < len) {
				if (!w.active) {
					w.active = 1;
					w.start = i;
				}
				if (src[i + 1] != '\n')
					buf_putc(&w.text, (unsigned char)src[i + 1]);
				i += 2;
			} else {
				i++;
			}
			continue;
		}
		/* ( ) group commands (if/for blocks) but stay in a word that opened one:
		 * iex(iwr http://x) passed on to powershell keeps its parentheses */
		if (!inq && c == '(' && w.active)
			w.paren++;
		if (!inq && c == ')' && w.paren > 0) {
			w.paren--;
			buf_putc(&w.text, ')');
			i++;
			continue;
		}
		if (!inq && (c == ' ' || c == '\t' || (c == '(' && !w.active) || c == ')' ||
		    (c == '@' && !w.active && nw == 0))) {
			if ((rc = flush_word(a, &w, words, &nw, i, base)) != 0)
				goto out;
			if (redir_next && nw > redir_at) {
				redir = words[nw - 1].text;
				nw--;
				redir_next = 0;
			}
			i++;
			continue;
		}
		if (!inq && (c == '>' || c == '<' ||
		    ((c == '1' || c == '2') && i + 1 < len && src[i + 1] == '>' && !w.active))) {
			if ((rc = flush_word(a, &w, words, &nw, i, base)) != 0)
				goto out;
			if (c != '>' && c != '<')
				i++;
			int is_out = src[i] == '>';
			i++;
			if (i < len && src[i] == '>')
				i++;
			if (i < len && src[i] == '&' && i + 1 < len && src[i + 1] >= '0' &&
			    src[i + 1] <= '9') {
				i += 2;
				continue;
			}
			redir_next = is_out;
			redir_at = nw;
			continue;
		}
		if (!w.active) {
			w.active = 1;
			w.start = i;
		}
		if (c == '%' || c == '!') {
			const char *q = memchr(src + i + 1, c, len - i - 1);
			if (q && q > src + i + 1)
				w.has_var = 1;
		}
		buf_putc(&w.text, (unsigned char)c);
		i++;
	}
out:
	buf_free(&w.text);
	return rc ? rc : (int)ncmd;
}
