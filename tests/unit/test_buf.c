/* test_buf.c — the byte buffer: growth, the hard cap, NUL termination, stealing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/err.h"

static void
test_put_and_cstr(void **state)
{
	buf b = BUF_INIT;

	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(buf_cstr(&b), "hello 42-x");
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "42-x");
	buf_truncate(&b, 2);
	assert_string_equal(buf_cstr(&b), "42");
	buf_free(&b);
	buf_free(&b); /* twice is safe */
}

static void
test_cap_is_enforced(void **state)
{
	buf b;
	char big[100];

	(void)state;
	memset(big, 'a', sizeof(big));
	buf_init(&b, 64);
	assert_int_equal(buf_put(&b, big, 64), 0);
	assert_int_equal(buf_putc(&b, 'b'), ESC_ETOOBIG);
	assert_int_equal(b.len, 64); /* a failed write leaves the content intact */
	assert_int_equal(buf_printf(&b, "%s", "x"), ESC_ETOOBIG);
	assert_int_equal(buf_reserve(&b, SIZE_MAX), ESC_ETOOBIG);
	buf_free(&b);
}

static void
test_growth_keeps_content(void **state)
{
	buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_putc(&b, (unsigned char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 100000);
	for (i = 0; i < 100000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_int_equal(b.data[b.len], 0);
	buf_free(&b);
}

static void
test_steal(void **state)
{
	buf b = BUF_INIT;
	size_t n = 99;
	char *s;

	(void)state;
	s = buf_steal(&b, &n); /* empty buffer still yields a string */
	assert_non_null(s);
	assert_int_equal(n, 0);
	assert_string_equal(s, "");
	free(s);
	buf_puts(&b, "abc");
	s = buf_steal(&b, &n);
	assert_string_equal(s, "abc");
	assert_int_equal(n, 3);
	assert_null(b.data);
	free(s);
}

static void
test_read_fd(void **state)
{
	buf b = BUF_INIT;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "one\0two", 7), 7);
	close(p[1]);
	assert_int_equal(buf_read_fd(&b, p[0]), 0);
	close(p[0]);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "one\0two", 7);
	buf_free(&b);
	assert_int_equal(buf_read_file(&b, "/nonexistent/escort"), ESC_EIO);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_and_cstr),
		cmocka_unit_test(test_cap_is_enforced),
		cmocka_unit_test(test_growth_keeps_content),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_read_fd),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
