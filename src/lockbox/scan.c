/* scan.c — small text scanners used by the analyzer: inline interpreter code (what the
 * code reaches for: shells, sockets, native libraries), shell mentions, path
 * normalization, and UTF-8 / deceptive-character detection. Plain substring searches,
 * no regexes: these run on the hot path for every record. */
#include "lockbox/analyze_int.h"

#include <string.h>

static const char *
memmem_ci(const char *h, size_t hn, const char *nd)
{
	size_t nn = strlen(nd);
	if (nn == 0 || nn > hn)
		return NULL;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t j = 0;
		while (j < nn) {
			char a = h[i + j], b = nd[j];
			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (a != b)
				break;
			j++;
		}
		if (j == nn)
			return h + i;
	}
	return NULL;
}

/* memmem for the short needles used here: memchr for the first byte then memcmp is
 * several times faster than glibc's general memmem on short words. */
static int
has_n(const char *s, size_t n, const char *nd, size_t nl)
{
	if (nl == 0)
		return 1;
	while (n >= nl) {
		const char *p = memchr(s, nd[0], n - nl + 1);
		if (p == NULL)
			return 0;
		if (memcmp(p, nd, nl) == 0)
			return 1;
		n -= (size_t)(p - s) + 1;
		s = p + 1;
	}
	return 0;
}

static int
has(const char *s, size_t n, const char *nd)
{
	return has_n(s, n, nd, strlen(nd));
}

static int
has_any(const char *s, size_t n, const char *const *list)
{
	for (; *list; list++)
		if (has(s, n, *list))
			return 1;
	return 0;
}

static const char *const shell_names[] = {
	"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "pdksh", "csh", "tcsh", "fish",
	"rbash", "yash", "posh", "lksh", "ksh93", "oksh", "loksh", "sash", "elvish",
	"xonsh", "nu", "busybox", NULL,
};

int
lbx_is_shell_name(const char *name)
{
	if (name == NULL)
		return 0;
	for (const char *const *p = shell_names; *p; p++)
		if (name[0] == (*p)[0] && strcmp(name, *p) == 0)
			return strcmp(name, "busybox") != 0;
	return 0;
}

/* Shell binaries or invocations: "/bin/sh", "/bin/bash", "sh -i", "exec sh" ... */
int
lbx_mentions_shell(const char *s, size_t n)
{
	/* every pattern holds "sh", ":" or "syscmd": most words have none. The patterns are
	 * grouped by a part they share, so a word is searched only for the groups whose part
	 * it holds (this runs for every word of every command). */
	int sh = has_n(s, n, "sh", 2), colon = memchr(s, ':', n) != NULL;
	if (!sh && !colon && !has_n(s, n, "syscmd", 6))
		return 0;
	static const char *const bin[] = {
		"/bin/sh", "/bin/bash", "/bin/dash", "/bin/zsh", "/bin/ksh", "/bin/ash",
		"/bin/csh", "/bin/tcsh", "/bin/fish", "/bin/busybox sh", NULL,
	};
	static const char *const opt[] = { "sh -i", "sh -p", "sh -c", NULL };
	static const char *const quoted[] = { "\"sh\"", "'sh'", "\"bash\"", "'bash'", NULL };
	static const char *const ex[] = { "exec sh", "exec bash", NULL };
	static const char *const cl[] = { ":shell", ":terminal", ":!", NULL };
	static const char *const bang[] = { "!sh", "! sh", NULL };
	if (sh) {
		if (has_n(s, n, "/bin/", 5) && has_any(s, n, bin))
			return 1;
		if (has_n(s, n, "sh -", 4) && has_any(s, n, opt)) /* bash -i holds sh -i */
			return 1;
		if ((memchr(s, '"', n) || memchr(s, '\'', n)) && has_any(s, n, quoted))
			return 1;
		if (has_n(s, n, "exec ", 5) && has_any(s, n, ex))
			return 1;
		if (memchr(s, '!', n) && has_any(s, n, bang))
			return 1;
		if (has_n(s, n, "run-shell-command", 17))
			return 1;
	}
	if (colon && has_any(s, n, cl))
		return 1;
	return has_n(s, n, "syscmd", 6) && (has_n(s, n, "esyscmd", 7) || has_n(s, n, "syscmd(", 7));
}

unsigned
lbx_scan_code(const char *s, size_t n)
{
	static const char *const shell[] = {
		"os.system", "subprocess", "os.exec", "os.popen", "popen(", "system(", "system (",
		"exec(", "exec \"", "exec '", "exec(\"", "spawn(", "spawnSync", "execSync",
		"child_process", "Runtime.getRuntime", "io.popen", "os.execute", "proc_open",
		"passthru", "shell_exec", "pcntl_exec", "Kernel.exec", "IO.popen", "%x(", "%x{",
		"`", "os.spawn", "pty.spawn", "Process.start", "ProcessBuilder", "execve",
		"execl", "execvp", "Open3", "qx(", "qx{", "qx/", "exec ", "system ", "run(",
		"commands.getoutput", "os.startfile", "Start-Process", "Invoke-Expression", "iex ",
		"Invoke-Command", NULL,
	};
	static const char *const sock[] = {
		"socket", "Socket", "fsockopen", "net.connect", "net.Socket", "Net::", "IO::Socket",
		"TCPSocket", "UDPSocket", "stream_socket", "createConnection", "/inet/tcp",
		"/inet/udp", "/dev/tcp/", "/dev/udp/", "connect(", "sock", NULL,
	};
	static const char *const listen[] = {
		"bind(", "listen(", "TCPServer", "createServer", "serve_forever", "HTTPServer",
		"http.server", "SimpleHTTP", "stream_socket_server", "socket_bind", "->listen",
		".listen(", NULL,
	};
	static const char *const lib[] = {
		"ctypes", "cdll", "CDLL", "LoadLibrary", "dlopen", "Fiddle", "DynaLoader",
		"ffi.load", "require(\"ffi\")", "FFI::", "process.dlopen", "dl_load_file",
		"load_extension", "loadlib", "package.loadlib", "System.load", ".so\"", ".so'",
		NULL,
	};
	static const char *const setuid[] = {
		"setuid", "setgid", "setreuid", "setresuid", "POSIX::set", "Process::Sys.set",
		"Process.uid", "posix_setuid", "os.setuid", "$<=", "$>=", NULL,
	};
	static const char *const http[] = {
		"urllib", "urlopen", "requests.", "http.get", "https.get", "LWP", "open-uri",
		"Net::HTTP", "HTTP::Tiny", "file_get_contents(\"http", "file_get_contents('http",
		"fetch(", "http.request", "wget", "curl", "http://", "https://", "ftp://", NULL,
	};
	static const char *const fwrite[] = {
		"open(", ".write(", "fwrite", "file_put_contents", "File.write", "writeFile",
		"print >", ">>", "File.open", "io.open", "fs.write", "Out-File", "Set-Content",
		"Add-Content", "fputs", "fprintf(", NULL,
	};
	static const char *const decode[] = {
		"b64decode", "base64", "decode(", "fromhex", "unhexlify", "atob(", "Buffer.from",
		"pack(", "chr(", "\\x", NULL,
	};
	static const char *const evals[] = {
		"eval(", "eval ", "exec(compile", "compile(", "Function(", "instance_eval",
		"class_eval", "loadstring", "load(", NULL,
	};
	unsigned f = 0;
	if (has_any(s, n, shell))
		f |= LBX_CODE_SHELL;
	if (has_any(s, n, sock))
		f |= LBX_CODE_SOCKET;
	if (has_any(s, n, listen))
		f |= LBX_CODE_LISTEN;
	if (has_any(s, n, lib))
		f |= LBX_CODE_LIBLOAD;
	if (has_any(s, n, setuid))
		f |= LBX_CODE_SETUID;
	if (has_any(s, n, http))
		f |= LBX_CODE_HTTP;
	if (has_any(s, n, fwrite))
		f |= LBX_CODE_FILEWRITE;
	if (has_any(s, n, decode))
		f |= LBX_CODE_DECODE;
	if (has_any(s, n, evals))
		f |= LBX_CODE_EVAL;
	if (lbx_mentions_shell(s, n))
		f |= LBX_CODE_SHPATH | LBX_CODE_SHELL;
	if (has(s, n, "pty") || memmem_ci(s, n, "openpty") || has(s, n, "spawn(\"/bin"))
		f |= LBX_CODE_PTY;
	return f;
}

/* ---- paths --------------------------------------------------------------------------- */

char *
lbx_norm_path(lb_arena *a, const char *p)
{
	size_t n = strlen(p);
	/* room for a /home/~ or /root prefix */
	char *out = lb_arena_alloc(a, n + 16);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	const char *s = p;
	if (s[0] == '~') {
		const char *e = s + 1;
		while (*e && *e != '/')
			e++;
		size_t ul = (size_t)(e - (s + 1));
		if (ul == 0) {
			memcpy(out, "/home/~", 7);
			o = 7;
		} else if (ul == 4 && !strncmp(s + 1, "root", 4)) {
			memcpy(out, "/root", 5);
			o = 5;
		} else {
			memcpy(out, "/home/", 6);
			o = 6;
			memcpy(out + o, s + 1, ul);
			o += ul;
		}
		s = e;
	} else if (!strncmp(s, "$HOME", 5) && (s[5] == '/' || s[5] == 0)) {
		memcpy(out, "/home/~", 7);
		o = 7;
		s += 5;
	} else if (!strncmp(s, "${HOME}", 7) && (s[7] == '/' || s[7] == 0)) {
		memcpy(out, "/home/~", 7);
		o = 7;
		s += 7;
	}
	int abs = o > 0 || s[0] == '/';
	/* copy components, resolving . and .. lexically */
	size_t root_len = o; /* never pop above the home prefix */
	if (o == 0 && abs) {
		out[o++] = '/';
		root_len = 1;
	}
	while (*s) {
		while (*s == '/')
			s++;
		if (*s == 0)
			break;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t cl = (size_t)(e - s);
		if (cl == 1 && s[0] == '.') {
			s = e;
			continue;
		}
		if (cl == 2 && s[0] == '.' && s[1] == '.' && abs) {
			/* pop one component, but not above the root */
			while (o > root_len && out[o - 1] != '/')
				o--;
			if (o > root_len)
				o--;
			if (o < root_len)
				o = root_len;
			if (o == 0) {
				out[o++] = '/';
			}
			s = e;
			continue;
		}
		if (o > 0 && out[o - 1] != '/')
			out[o++] = '/';
		memcpy(out + o, s, cl);
		o += cl;
		s = e;
	}
	if (o == 0) {
		if (p[0] == '.') {
			out[o++] = '.';
		}
	}
	/* the root stays "/" and a relative path loses its trailing '/' */
	if (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = 0;
	return out;
}

/* ---- UTF-8 and deceptive characters --------------------------------------------------- */

size_t
lbx_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

int
lbx_cp_deceptive(uint32_t cp)
{
	return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x200E || cp == 0x200F || cp == 0x061C || (cp >= 0x200B && cp <= 0x200D) ||
	    cp == 0x2060 || cp == 0xFEFF || cp == 0x00AD || (cp >= 0x80 && cp <= 0x9F) ||
	    cp == 0x2028 || cp == 0x2029 || cp == 0x180E || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
	    (cp >= 0x2061 && cp <= 0x2064) || (cp >= 0xE0000 && cp <= 0xE007F) ||
	    cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0 || cp == 0x034F;
}

/* Look-alike punctuation (dashes, slashes, bars) deceives wherever it stands; look-alike
 * letters only inside a word that also holds Latin letters ("сat", "/etc/hοsts"), so
 * ordinary Greek or Russian text is not flagged. */
static int
in_latin_word(const unsigned char *u, size_t n, size_t i, size_t len)
{
	static const char stop[] = " \t\n;|&<>()'\"/=,:";
	for (size_t j = i; j > 0 && !strchr(stop, u[j - 1]); j--)
		if ((u[j - 1] | 0x20) >= 'a' && (u[j - 1] | 0x20) <= 'z')
			return 1;
	for (size_t j = i + len; j < n && !strchr(stop, u[j]); j++)
		if ((u[j] | 0x20) >= 'a' && (u[j] | 0x20) <= 'z')
			return 1;
	return 0;
}

static int
cp_letter(uint32_t cp)
{
	return (cp >= 0x0370 && cp <= 0x03FF) || (cp >= 0x0400 && cp <= 0x052F);
}

/* Cyrillic and Greek letters that render like Latin ones in most fonts. */
static int
cp_homoglyph(uint32_t cp)
{
	static const uint32_t lk[] = {
		0x0430, 0x0435, 0x043E, 0x0440, 0x0441, 0x0443, 0x0445, 0x0455, 0x0456, 0x0458,
		0x04BB, 0x0501, 0x0410, 0x0412, 0x0415, 0x041A, 0x041C, 0x041D, 0x041E, 0x0420,
		0x0421, 0x0422, 0x0425, 0x03BF, 0x03B1, 0x0391, 0x0392, 0x0395, 0x0396, 0x0397,
		0x0399, 0x039A, 0x039C, 0x039D, 0x039F, 0x03A1, 0x03A4, 0x03A5, 0x03A7, 0xFF0F,
		0x2215, 0x2044, 0xFF0D, 0x2010, 0x2011, 0x2012, 0x2013, 0x2212, 0xFE63, 0xFF5C,
	};
	for (size_t i = 0; i < sizeof lk / sizeof lk[0]; i++)
		if (lk[i] == cp)
			return 1;
	return 0;
}

unsigned
lbx_scan_text(const char *s, size_t n, lb_span *first)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned f = 0;
	for (size_t i = 0; i < n;) {
		/* 8 printable ASCII bytes at a time: nothing to report in them */
		while (n - i >= 8) {
			uint64_t x;
			memcpy(&x, u + i, 8);
			const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
			if ((x & highs) || ((x - 0x20 * ones) & ~x & highs) ||
			    (((x ^ (0x7F * ones)) - ones) & ~(x ^ (0x7F * ones)) & highs))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x7F) {
			i++;
			continue;
		}
		unsigned bit = 0;
		size_t len = 1;
		if (c == 0) {
			bit = LBX_TXT_NUL;
		} else if (c == '\t' || c == '\n') {
			i++;
			continue;
		} else if (c == '\r') {
			/* CR LF (and CRs before it) only ends a line; text after a CR overwrites */
			size_t j = i;
			while (j < n && u[j] == '\r')
				j++;
			bit = j < n && u[j] != '\n' ? LBX_TXT_CR_OVER : LBX_TXT_CR;
		} else if (c == 0x1B) {
			bit = LBX_TXT_ANSI;
		} else if (c < 0x20 || c == 0x7F) {
			bit = LBX_TXT_CONTROL;
		} else {
			uint32_t cp = 0;
			len = lbx_utf8_len(u + i, n - i, &cp);
			if (len == 0) {
				bit = LBX_TXT_BADUTF8;
				len = 1;
			} else if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
			    cp == 0x200E || cp == 0x200F || cp == 0x061C) {
				bit = LBX_TXT_BIDI;
			} else if ((cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || cp == 0xFEFF ||
			    cp == 0x00AD || cp == 0x180E || (cp >= 0x2061 && cp <= 0x2064) ||
			    (cp >= 0xE0000 && cp <= 0xE007F) || cp == 0x115F || cp == 0x1160 ||
			    cp == 0x3164 || cp == 0xFFA0 || cp == 0x034F) {
				bit = LBX_TXT_ZEROWIDTH;
			} else if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
			    (cp >= 0xFFF9 && cp <= 0xFFFB)) {
				bit = LBX_TXT_CONTROL;
			} else if (cp_homoglyph(cp) && (!cp_letter(cp) || in_latin_word(u, n, i, len))) {
				bit = LBX_TXT_HOMOGLYPH;
			}
		}
		if (bit && !(f & bit) && first) {
			for (int k = 0; k < LBX_TXT_KINDS; k++)
				if (bit == (1u << k)) {
					first[k].start = (uint32_t)i;
					first[k].end = (uint32_t)(i + len);
				}
		}
		f |= bit;
		i += len;
	}
	/* blanks: a run of LBX_BLANK_RUN columns with text after it on the same line (only
	 * records with 8 spaces in a row or a tab need the byte-by-byte look) */
	const char *sp = n >= 8 ? memmem(s, n, "        ", 8) : NULL;
	const char *tb = memchr(s, '\t', n);
	if (tb && (sp == NULL || tb < sp))
		sp = tb;
	for (size_t j = sp ? (size_t)(sp - s) : n; j < n;) {
		if (s[j] != ' ' && s[j] != '\t') {
			j++;
			continue;
		}
		size_t st = j, col = 0;
		while (j < n && (s[j] == ' ' || s[j] == '\t'))
			col += s[j++] == '\t' ? 8 : 1;
		if (col >= LBX_BLANK_RUN && j < n && s[j] != '\n' && s[j] != '\r') {
			if (first) {
				first[9].start = (uint32_t)st;
				first[9].end = (uint32_t)j;
			}
			f |= LBX_TXT_BLANKS;
			break;
		}
	}
	return f;
}
