/* fuzz_http.c — escortd's request parsers read bytes from anyone who can reach the port.
 * The first input byte picks a parser (request body for create, approve/deny, login,
 * analyze, explain; or a query string for the list and audit-search parameters); the rest
 * is the body or query. Nothing may crash, leak or hang; every refusal must carry a
 * 4xx/5xx status and a message; every accepted create must hold 1..64 non-empty commands
 * of at most WF_CMD_MAX bytes and strings that are valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/parse.h"
#include "util/err.h"
#include "workflow/workflow.h"

static void
check_err(const srv_err *e)
{
	if (e->status < 400 || e->status > 599 || e->msg[0] == 0 || e->code == NULL)
		abort();
}

static void
check_str(const char *s)
{
	if (s && !srv_utf8_ok((const unsigned char *)s, strlen(s)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t len, i;
	srv_err e;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	memset(&e, 0, sizeof(e));
	switch (data[0] % 6) {
	case 0: {
		srv_create c;

		if (srv_parse_create(body, len, &c, &e) != 0) {
			check_err(&e);
			break;
		}
		if (c.ncmds == 0 || c.ncmds > SRV_MAX_COMMANDS || c.target == NULL)
			abort();
		for (i = 0; i < c.ncmds; i++)
			if (c.cmds[i].p == NULL || c.cmds[i].n == 0 || c.cmds[i].n > WF_CMD_MAX)
				abort();
		check_str(c.target);
		check_str(c.ticket);
		check_str(c.justification);
		srv_create_free(&c);
		break;
	}
	case 1: {
		srv_action a;

		if (srv_parse_action(body, len, &a, &e) != 0) {
			check_err(&e);
			break;
		}
		check_str(a.comment);
		check_str(a.totp);
		srv_json_free(&a.root);
		break;
	}
	case 2: {
		srv_login l;

		if (srv_parse_login(body, len, &l, &e) != 0) {
			check_err(&e);
			break;
		}
		if (l.token == NULL)
			abort();
		check_str(l.token);
		srv_json_free(&l.root);
		break;
	}
	case 3:
	case 4: {
		srv_analyze a;

		if (srv_parse_analyze(body, len, data[0] % 6 == 4, &a, &e) != 0) {
			check_err(&e);
			break;
		}
		if (a.cmd.p == NULL || a.cmd.n == 0 || a.shell == NULL ||
		    (data[0] % 6 == 4 && a.target == NULL))
			abort();
		srv_json_free(&a.root);
		break;
	}
	default: {
		srv_query q;
		srv_list_params lp;
		srv_search_params sp;

		if (srv_query_parse(body, len, &q, &e) != 0) {
			check_err(&e);
			break;
		}
		if (q.n > SRV_QUERY_MAX)
			abort();
		if (srv_list_params_get(&q, &lp, &e) != 0)
			check_err(&e);
		else if (lp.limit < 1 || lp.limit > 1000)
			abort();
		memset(&e, 0, sizeof(e));
		if (srv_search_params_get(&q, &sp, &e) != 0)
			check_err(&e);
		else {
			check_str(sp.actor);
			check_str(sp.text);
			check_str(sp.type);
		}
		srv_query_free(&q);
		break;
	}
	}
	return 0;
}
