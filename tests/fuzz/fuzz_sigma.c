/* fuzz_sigma.c — libFuzzer target for the Sigma rule loader: the input is a rule file
 * (YAML, possibly several documents); every rule that loads is then matched against
 * events made from the input's own text. Checks: no crash, leak or UB; every report line
 * ends with a newline; matching is deterministic. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockbox/sigma.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigma_set *s = sigma_new();
	buf rep = BUF_INIT;
	const char *text = (const char *)data;

	if (s == NULL)
		return 0;
	if (sigma_load_text(s, "f.yml", text, size, &rep, 1) == 0 && rep.len &&
	    rep.data[rep.len - 1] != '\n')
		abort();
	/* events: the whole input as the command line; its first line (and the bytes before
	 * the first space of it) as the image */
	size_t nl = 0, sp = 0;
	while (nl < size && data[nl] != '\n')
		nl++;
	while (sp < nl && data[sp] != ' ')
		sp++;
	sigma_str img[2] = { { text, nl }, { text, sp } }, cl[2] = { { text, size }, { text, nl } };
	sigma_event ev = { img, 2, cl, 2 }, noimg = { NULL, 0, cl, 1 };
	for (size_t i = 0; i < sigma_count(s) && i < 64; i++) {
		int a = sigma_rule_match(s, i, &ev);
		if (a != sigma_rule_match(s, i, &ev))
			abort();
		(void)sigma_rule_match(s, i, &noimg);
		if (sigma_rule_info(s, i) == NULL)
			abort();
	}
	sigma_free(s);
	buf_free(&rep);
	return 0;
}
