/* common.js — what every console page shares: the API client (cookie session + CSRF
 * header), DOM building that only ever uses text nodes, the visible escaping of
 * deceptive characters, the byte-exact rendering of commands with lockbox's finding
 * spans, the navigation bar and the live event stream. No framework, no build step. */
'use strict';

const Escort = (() => {
	const API = '/api/v1';
	const RISKS = ['none', 'low', 'medium', 'high', 'critical'];
	const RISK_WORDS = {
		none: 'No risk found',
		low: 'Low risk',
		medium: 'Medium risk',
		high: 'High risk',
		critical: 'Critical risk',
	};

	/* ---- DOM building: text nodes only. Untrusted data never reaches an HTML parser. ---- */

	/* el('tag.class#id', {attr: value, on: {click: fn}}, child...) — strings become
	 * visible-escaped text, arrays are flattened, null/false are skipped. */
	function el(spec, attrs, ...kids) {
		const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
		if (!m)
			throw new Error('bad element spec ' + spec);
		const n = document.createElement(m[1]);
		for (const part of m[2].match(/[.#][\w-]+/g) || []) {
			if (part[0] === '.')
				n.classList.add(part.slice(1));
			else
				n.id = part.slice(1);
		}
		if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
			kids.unshift(attrs);
			attrs = null;
		}
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'on') {
				for (const [ev, fn] of Object.entries(v))
					n.addEventListener(ev, fn);
			} else if (k === 'text') {
				n.append(vis(String(v)));
			} else if (k === 'class') {
				for (const c of String(v).split(/\s+/).filter(Boolean))
					n.classList.add(c);
			} else if (k === 'title' || k === 'aria-label') {
				n.setAttribute(k, visText(String(v)));
			} else if (k === 'href') {
				n.setAttribute('href', safeHref(String(v)));
			} else if (/^on/i.test(k)) {
				throw new Error('event handler attributes are not allowed');
			} else {
				n.setAttribute(k, v === true ? '' : String(v));
			}
		}
		add(n, kids);
		return n;
	}

	function add(n, kids) {
		for (const k of kids) {
			if (k === null || k === undefined || k === false)
				continue;
			if (Array.isArray(k))
				add(n, k);
			else if (k instanceof Node)
				n.append(k);
			else
				n.append(vis(String(k)));
		}
		return n;
	}

	/* Only relative links into the console (or fragments): nothing from data may become
	 * a javascript: or external URL. */
	function safeHref(h) {
		if (/^(#|\?|[a-z0-9_-]+\.html(\?|#|$))/i.test(h))
			return h;
		return '#';
	}

	function clear(n) {
		n.replaceChildren();
		return n;
	}

	function $(sel, root) {
		return (root || document).querySelector(sel);
	}

	/* ---- Characters that deceive the eye (the same set lockbox's text scan flags) ---- */

	const NAMES = {
		0x00: 'NUL', 0x0D: 'CARRIAGE RETURN', 0x1B: 'ESCAPE', 0x7F: 'DELETE',
		0x061C: 'ARABIC LETTER MARK', 0x200E: 'LEFT-TO-RIGHT MARK', 0x200F: 'RIGHT-TO-LEFT MARK',
		0x202A: 'LEFT-TO-RIGHT EMBEDDING', 0x202B: 'RIGHT-TO-LEFT EMBEDDING',
		0x202C: 'POP DIRECTIONAL FORMATTING', 0x202D: 'LEFT-TO-RIGHT OVERRIDE',
		0x202E: 'RIGHT-TO-LEFT OVERRIDE', 0x2066: 'LEFT-TO-RIGHT ISOLATE',
		0x2067: 'RIGHT-TO-LEFT ISOLATE', 0x2068: 'FIRST STRONG ISOLATE',
		0x2069: 'POP DIRECTIONAL ISOLATE', 0x200B: 'ZERO WIDTH SPACE',
		0x200C: 'ZERO WIDTH NON-JOINER', 0x200D: 'ZERO WIDTH JOINER', 0x2060: 'WORD JOINER',
		0xFEFF: 'ZERO WIDTH NO-BREAK SPACE', 0x00AD: 'SOFT HYPHEN',
		0x180E: 'MONGOLIAN VOWEL SEPARATOR', 0x2028: 'LINE SEPARATOR', 0x2029: 'PARAGRAPH SEPARATOR',
	};
	const HOMOGLYPHS = new Set([
		0x0430, 0x0435, 0x043E, 0x0440, 0x0441, 0x0443, 0x0445, 0x0455, 0x0456, 0x0458,
		0x04BB, 0x0501, 0x0410, 0x0412, 0x0415, 0x041A, 0x041C, 0x041D, 0x041E, 0x0420,
		0x0421, 0x0422, 0x0425, 0x03BF, 0x03B1, 0x0391, 0x0392, 0x0395, 0x0396, 0x0397,
		0x0399, 0x039A, 0x039C, 0x039D, 0x039F, 0x03A1, 0x03A4, 0x03A5, 0x03A7, 0xFF0F,
		0x2215, 0x2044, 0xFF0D, 0x2010, 0x2011, 0x2012, 0x2013, 0x2212, 0xFE63, 0xFF5C,
	]);

	/* The kind of a code point: null when it displays as itself. */
	function kindOf(cp) {
		if (cp === 0x09 || cp === 0x0A)
			return null;
		if (cp < 0x20 || cp === 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp === 0x2028 ||
		    cp === 0x2029 || (cp >= 0xFFF9 && cp <= 0xFFFB))
			return 'control';
		if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
		    cp === 0x200E || cp === 0x200F || cp === 0x061C)
			return 'bidi';
		if ((cp >= 0x200B && cp <= 0x200D) || cp === 0x2060 || cp === 0xFEFF || cp === 0x00AD ||
		    cp === 0x180E)
			return 'zero-width';
		if (cp >= 0xD800 && cp <= 0xDFFF)
			return 'control'; /* a lone surrogate in a JS string */
		if (HOMOGLYPHS.has(cp))
			return 'look-alike';
		return null;
	}

	function hex(n, w) {
		return n.toString(16).toUpperCase().padStart(w, '0');
	}

	/* The visible stand-in of one deceptive code point, or of one byte that is not UTF-8. */
	function escNode(cp, kind, badByte) {
		const s = document.createElement('span');
		s.className = 'esc esc-' + (badByte === undefined ? kind : 'bad-utf8');
		if (badByte !== undefined) {
			s.textContent = '⟨0x' + hex(badByte, 2) + '⟩';
			s.title = 'byte 0x' + hex(badByte, 2) + ' is not valid UTF-8';
			return s;
		}
		const label = 'U+' + hex(cp, 4);
		if (kind === 'look-alike') {
			/* keep the letter (it is what runs) and say what it really is */
			s.append(document.createTextNode(String.fromCodePoint(cp)));
			const t = document.createElement('sup');
			t.textContent = '⟨' + label + '⟩';
			s.append(t);
			s.title = label + ' is not a Latin letter, though it looks like one';
			return s;
		}
		s.textContent = '⟨' + label + '⟩';
		s.title = label + (NAMES[cp] ? ' ' + NAMES[cp] : '') + ' (' + kind + ' character, invisible or misleading when displayed)';
		return s;
	}

	/* visText(string) — the same escapes as plain text, for attributes (tooltips) */
	function visText(str) {
		let out = '';
		for (const ch of str) {
			const cp = ch.codePointAt(0);
			const k = kindOf(cp);
			out += !k ? ch : k === 'look-alike' ? ch + '⟨U+' + hex(cp, 4) + '⟩' : '⟨U+' + hex(cp, 4) + '⟩';
		}
		return out;
	}

	/* vis(string) — a fragment showing the string exactly, with every deceptive
	 * character as a visible escape. The only way data strings enter the DOM. */
	function vis(str) {
		const f = document.createDocumentFragment();
		let run = '';
		for (let i = 0; i < str.length;) {
			const cp = str.codePointAt(i);
			const w = cp > 0xFFFF ? 2 : 1;
			const k = kindOf(cp);
			if (k) {
				if (run)
					f.append(document.createTextNode(run));
				run = '';
				f.append(escNode(cp, k));
			} else {
				run += str.slice(i, i + w);
			}
			i += w;
		}
		if (run)
			f.append(document.createTextNode(run));
		return f;
	}

	/* ---- Bytes: commands are bytes, and lockbox spans are byte offsets ---- */

	function b64bytes(b64) {
		const bin = atob(b64);
		const u = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++)
			u[i] = bin.charCodeAt(i);
		return u;
	}

	/* Strict UTF-8 decoding into units {start, end, cp} (cp -1: a byte that is not UTF-8),
	 * accepting exactly what lockbox accepts (no overlongs, no surrogates, <= U+10FFFF). */
	function utf8Units(u) {
		const out = [];
		for (let i = 0; i < u.length;) {
			const c = u[i];
			let len = 0, v = 0, min = 0;
			if (c < 0x80) {
				len = 1; v = c;
			} else if (c >= 0xC2 && c <= 0xDF) {
				len = 2; v = c & 0x1F; min = 0x80;
			} else if (c >= 0xE0 && c <= 0xEF) {
				len = 3; v = c & 0x0F; min = 0x800;
			} else if (c >= 0xF0 && c <= 0xF4) {
				len = 4; v = c & 0x07; min = 0x10000;
			}
			let ok = len > 0 && i + len <= u.length;
			for (let k = 1; ok && k < len; k++) {
				if ((u[i + k] & 0xC0) !== 0x80)
					ok = false;
				else
					v = (v << 6) | (u[i + k] & 0x3F);
			}
			if (ok && len > 1 && (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)))
				ok = false;
			if (ok) {
				out.push({ start: i, end: i + len, cp: v });
				i += len;
			} else {
				out.push({ start: i, end: i + 1, cp: -1, byte: c });
				i += 1;
			}
		}
		return out;
	}

	/* Appends units [a, b) to node n: plain runs as text, deceptive ones escaped. */
	function appendUnits(n, units, a, b) {
		let run = '';
		for (let i = a; i < b; i++) {
			const x = units[i];
			const k = x.cp < 0 ? 'bad' : kindOf(x.cp);
			if (!k) {
				run += String.fromCodePoint(x.cp);
				continue;
			}
			if (run)
				n.append(document.createTextNode(run));
			run = '';
			n.append(x.cp < 0 ? escNode(0, null, x.byte) : escNode(x.cp, k));
		}
		if (run)
			n.append(document.createTextNode(run));
	}

	function sevRank(s) {
		const r = RISKS.indexOf(s);
		return r < 0 ? 0 : r;
	}

	/* renderBytes(bytes, marks) — a <code> with the text of the bytes and every mark
	 * {start, end, severity, id, title} (byte offsets, end exclusive) highlighted.
	 * Overlapping marks split the text into segments; each segment names all the
	 * findings that cover it and takes the colour of the most severe. */
	function renderBytes(bytes, marks) {
		const units = utf8Units(bytes);
		const code = document.createElement('code');
		code.className = 'cmdtext';
		const cover = (x) => marks.filter((m) => x.start < m.end && x.end > m.start);
		let i = 0;
		while (i < units.length) {
			const set = cover(units[i]);
			const key = set.map((m) => m.id).join(' ');
			let j = i + 1;
			while (j < units.length && cover(units[j]).map((m) => m.id).join(' ') === key)
				j++;
			if (!set.length) {
				appendUnits(code, units, i, j);
			} else {
				const worst = set.reduce((a, m) => (sevRank(m.severity) > sevRank(a.severity) ? m : a));
				const mk = document.createElement('mark');
				mk.className = 'finding sev-' + (RISKS.includes(worst.severity) ? worst.severity : 'medium');
				if (set.length > 1)
					mk.classList.add('nested');
				mk.dataset.findings = key;
				mk.setAttribute('aria-describedby', key);
				mk.title = visText(set.map((m) => m.title).join('\n'));
				appendUnits(mk, units, i, j);
				code.append(mk);
			}
			i = j;
		}
		return code;
	}

	function textBytes(s) {
		return new TextEncoder().encode(s);
	}

	/* ---- API ---- */

	class ApiError extends Error {
		constructor(status, body) {
			const e = (body && body.error) || {};
			super(e.message || 'HTTP ' + status);
			this.status = status;
			this.code = e.code || String(status);
			this.field = e.field || null;
		}
	}

	/* The CSRF token from login, shared by the console's tabs (localStorage): it guards
	 * against other sites, and the session itself stays in the HttpOnly cookie. */
	function csrf() {
		return localStorage.getItem('escort.csrf') || '';
	}

	async function api(method, path, body, opts) {
		const headers = { Accept: 'application/json' };
		const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
		if (method !== 'GET' && method !== 'HEAD')
			headers['X-CSRF-Token'] = csrf();
		if (body !== undefined) {
			if (typeof body === 'string') {
				headers['Content-Type'] = (opts && opts.type) || 'text/plain';
				init.body = body;
			} else {
				headers['Content-Type'] = 'application/json';
				init.body = JSON.stringify(body);
			}
		}
		const r = await fetch(API + path, init);
		let j = null;
		const t = await r.text();
		if (t) {
			try {
				j = JSON.parse(t);
			} catch (e) {
				j = null;
			}
		}
		if (r.status === 401 && !(opts && opts.noRedirect)) {
			toLogin();
			throw new ApiError(401, j);
		}
		if (!r.ok)
			throw new ApiError(r.status, j);
		return j;
	}

	function toLogin() {
		const here = location.pathname.replace(/^.*\//, '') + location.search;
		if (!/^login\.html/.test(here))
			location.assign('login.html?next=' + encodeURIComponent(here));
	}

	/* ---- Session, navigation ---- */

	let me = null;

	function hasRole(...roles) {
		return !!me && (me.roles || []).some((r) => roles.includes(r));
	}

	function isApprover() {
		return hasRole('escort', 'reviewer');
	}

	async function session() {
		me = await api('GET', '/whoami');
		if (me && me.csrf)
			localStorage.setItem('escort.csrf', me.csrf);
		nav();
		return me;
	}

	function nav() {
		const h = $('#topbar');
		if (!h)
			return;
		const page = document.body.dataset.page;
		const link = (href, name, key) =>
			el('a', { href, class: page === key ? 'current' : null, 'aria-current': page === key ? 'page' : null }, name);
		clear(h).append(
			el('a.brand', { href: 'index.html' }, el('span.logo', { 'aria-hidden': 'true' }, '◆'), 'escort'),
			el('nav', { 'aria-label': 'Main' },
				link('index.html', 'Queue', 'queue'),
				link('sessions.html', 'Sessions', 'sessions'),
				/* operators may not read the audit log */
				hasRole('auditor', 'admin', 'escort', 'reviewer') ? link('audit.html', 'Audit', 'audit') : null,
				link('policy.html', 'Policy', 'policy')),
			el('div.who', me ? [
				el('span.identity', { title: 'signed in as' }, me.identity),
				' ',
				(me.roles || []).map((r) => el('span.role', r)),
				el('button.linkish#logout', { type: 'button', on: { click: logout } }, 'Sign out'),
			] : null));
	}

	async function logout() {
		try {
			await api('POST', '/logout', {}, { noRedirect: true });
		} catch (e) {
			/* signed out either way */
		}
		localStorage.removeItem('escort.csrf');
		location.assign('login.html');
	}

	/* ---- Formatting ---- */

	function riskBadge(risk, score) {
		const r = RISKS.includes(risk) ? risk : 'none';
		return el('span.badge.risk-' + r, { title: score !== undefined && score !== null ? 'score ' + score + ' of 100' : null },
			RISK_WORDS[r] ? r : String(risk));
	}

	function stateBadge(state) {
		return el('span.state.state-' + String(state).replace(/[^a-z-]/g, ''), String(state));
	}

	/* "2026-11-25T10:26:38.250299Z" -> "2026-11-25 10:26:38 UTC" (everyone reads UTC) */
	function fmtTime(s) {
		if (!s)
			return '—';
		const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(String(s));
		return m ? m[1] + ' ' + m[2] + ' UTC' : String(s);
	}

	function parseTime(s) {
		const t = Date.parse(String(s || '').replace(/(\.\d{3})\d+/, '$1'));
		return isNaN(t) ? null : t;
	}

	function fmtDuration(sec) {
		sec = Math.max(0, Math.floor(sec));
		if (sec < 60)
			return sec + ' s';
		if (sec < 3600)
			return Math.floor(sec / 60) + ' min ' + (sec % 60) + ' s';
		if (sec < 86400)
			return Math.floor(sec / 3600) + ' h ' + Math.floor((sec % 3600) / 60) + ' min';
		return Math.floor(sec / 86400) + ' d ' + Math.floor((sec % 86400) / 3600) + ' h';
	}

	function errorBox(target, err) {
		const msg = err instanceof ApiError ?
			(err.status === 403 ? 'Not allowed: ' : err.status === 409 ? 'Conflict: ' : 'Error: ') + err.message +
				(err.field ? ' (field ' + err.field + ')' : '') :
			'Error: ' + (err && err.message ? err.message : String(err));
		clear(target).append(el('p.error', { role: 'alert' }, msg));
	}

	/* ---- Live updates (server-sent events) ---- */

	function live(onRequest, indicator) {
		if (!window.EventSource)
			return null;
		const es = new EventSource(API + '/events');
		const show = (on) => {
			if (!indicator)
				return;
			indicator.classList.toggle('on', on);
			indicator.textContent = on ? 'Live' : 'Reconnecting…';
		};
		es.addEventListener('open', () => show(true));
		es.addEventListener('error', () => show(false));
		es.addEventListener('request', (ev) => {
			let d = null;
			try {
				d = JSON.parse(ev.data);
			} catch (e) {
				return;
			}
			onRequest(d);
		});
		window.addEventListener('pagehide', () => es.close());
		return es;
	}

	function param(name) {
		return new URLSearchParams(location.search).get(name);
	}

	return {
		RISKS, RISK_WORDS, el, add, clear, $, vis, visText, kindOf, utf8Units, renderBytes, b64bytes, textBytes,
		api, ApiError, session, me: () => me, hasRole, isApprover, riskBadge, stateBadge, fmtTime,
		parseTime, fmtDuration, errorBox, live, param, sevRank, toLogin,
	};
})();
