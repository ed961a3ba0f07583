/* parse.h — escortd's parsers for untrusted request input: JSON bodies into typed request
 * structs and query strings into checked parameters. No HTTP library here, so the fuzz
 * target and unit tests drive exactly the code the server runs. */
#ifndef ESCORT_SERVER_PARSE_H
#define ESCORT_SERVER_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_MAX_COMMANDS 64
#define SRV_JSON_DEPTH 32
#define SRV_QUERY_MAX 32 /* parameters per query string */

/* What went wrong with a request, for the error body. */
typedef struct srv_err {
	int status;       /* HTTP status */
	const char *code; /* "bad_request", ... */
	char field[128];  /* "" when no single field is at fault */
	char msg[512];
} srv_err;

/* Sets *e and returns ESC_EPARSE (or ESC_ETOOBIG for 413). */
int srv_fail(srv_err *e, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* One command as bytes (pointing into the parse's storage). */
typedef struct srv_bytes {
	unsigned char *p;
	size_t n;
} srv_bytes;

typedef struct srv_create {
	json_t *root; /* owns the strings below */
	const char *target, *ticket, *justification;
	srv_bytes cmds[SRV_MAX_COMMANDS];
	size_t ncmds;
} srv_create;

typedef struct srv_action {
	json_t *root;
	const char *comment; /* NULL when absent */
	const char *totp;    /* NULL when absent */
} srv_action;

typedef struct srv_login {
	json_t *root;
	const char *token;
	const char *totp; /* NULL when absent */
} srv_login;

typedef struct srv_analyze {
	json_t *root;
	srv_bytes cmd;
	const char *shell;    /* "bash" when absent */
	const char *identity; /* explain only; NULL when absent */
	const char *target;   /* explain only */
} srv_analyze;

/* Each parser checks the body is one JSON object of exactly the known members with the
 * right types (valid UTF-8, no NUL), decodes base64, and checks sizes. On failure e says
 * which field and why; the struct is left empty. Free with the matching _free (NULL-safe
 * on an empty struct). An empty body (len 0) counts as {} for action. */
int srv_parse_create(const char *body, size_t len, srv_create *out, srv_err *e);
void srv_create_free(srv_create *c);
int srv_parse_action(const char *body, size_t len, srv_action *out, srv_err *e);
int srv_parse_login(const char *body, size_t len, srv_login *out, srv_err *e);
/* explain = 0: {"command"|"command_b64","shell"}; 1: also "identity", "target" (required). */
int srv_parse_analyze(const char *body, size_t len, int explain, srv_analyze *out, srv_err *e);
void srv_json_free(json_t **root); /* for action/login/analyze: drops root */

/* A decoded query string: key=value pairs (percent- and '+'-decoded; values may hold any
 * byte but are checked by the typed getters). */
typedef struct srv_query {
	size_t n;
	char *key[SRV_QUERY_MAX];
	char *val[SRV_QUERY_MAX];
	size_t vlen[SRV_QUERY_MAX];
} srv_query;

/* Parses "a=1&b=x%20y" (without the '?'); too many parameters or a bad escape is 400. */
int srv_query_parse(const char *qs, size_t len, srv_query *q, srv_err *e);
/* Adds one already-decoded pair (the HTTP library's iterator). */
int srv_query_add(srv_query *q, const char *key, const char *val, size_t vlen, srv_err *e);
void srv_query_free(srv_query *q);
/* Typed getters: 0 and the value; 1 when absent (out untouched); ESC_EPARSE with e set
 * when present but invalid (empty, not UTF-8, NUL, out of range). */
int srv_query_str(const srv_query *q, const char *key, const char **out, srv_err *e);
int srv_query_int(const srv_query *q, const char *key, int64_t lo, int64_t hi, int64_t *out,
                  srv_err *e);
int srv_query_bool(const srv_query *q, const char *key, int *out, srv_err *e);
/* RFC 3339 UTC time as audit_time_format writes it, or a date YYYY-MM-DD. */
int srv_query_time(const srv_query *q, const char *key, int64_t *us, srv_err *e);
/* Refuses parameters not in the NULL-terminated list (400 naming the first one). */
int srv_query_only(const srv_query *q, const char *const *known, srv_err *e);

/* The validated parameters of GET /requests and /audit/search. */
typedef struct srv_list_params {
	const char *state; /* NULL: any */
	int mine;
	int64_t limit;
} srv_list_params;

typedef struct srv_search_params {
	int64_t since_us, until_us; /* 0: open */
	const char *actor, *type, *text;
	int64_t request; /* 0: any */
	int64_t limit;
} srv_search_params;

int srv_list_params_get(const srv_query *q, srv_list_params *p, srv_err *e);
int srv_search_params_get(const srv_query *q, srv_search_params *p, srv_err *e);

/* 1 when p[0..n) is valid UTF-8 without NUL, else 0. */
int srv_utf8_ok(const unsigned char *p, size_t n);
/* Parses a positive decimal id ("12"); -1 when it is not one. */
int64_t srv_parse_id(const char *s, size_t n);

#endif
