/* sqlexec.c — test tool: runs SQL against an SQLite database and prints each result row
 * tab-separated, so integration tests can inspect and tamper with the store directly
 * (like an attacker with file access) without needing the sqlite3 shell installed. */
#include <sqlite3.h>
#include <stdio.h>

static int
row(void *u, int n, char **v, char **names)
{
	int i;

	(void)u;
	(void)names;
	for (i = 0; i < n; i++)
		printf("%s%s", i ? "\t" : "", v[i] ? v[i] : "NULL");
	putchar('\n');
	return 0;
}

int
main(int argc, char **argv)
{
	sqlite3 *db = NULL;
	char *err = NULL;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: sqlexec DB SQL\n");
		return 2;
	}
	if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlexec: %s: %s\n", argv[1], sqlite3_errmsg(db));
		sqlite3_close(db);
		return 1;
	}
	sqlite3_busy_timeout(db, 60000);
	rc = sqlite3_exec(db, argv[2], row, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "sqlexec: %s\n", err ? err : sqlite3_errstr(rc));
	sqlite3_free(err);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : 1;
}
