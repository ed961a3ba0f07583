// lib.js — what the browser scenarios share: RFC 6238 codes computed here with node's
// crypto, calls to the real escortd API, Debian's chromium through playwright-core, and
// results written one JSON object per line for the TAP wrapper to turn into ok/not ok.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

// ---- results ----

let failures = 0;

// report(ok, name, diag, skip): one check; a `skip` reason says the check could not be
// made against this server (TAP "ok N - name # SKIP reason").
function report(ok, name, diag, skip) {
	if (skip)
		ok = true;
	if (!ok)
		failures++;
	const r = { ok: !!ok, name };
	if (skip)
		r.skip = String(skip);
	if (diag !== undefined && diag !== null && diag !== '')
		r.diag = String(diag).slice(0, 2000);
	process.stdout.write(JSON.stringify(r) + '\n');
	return !!ok;
}

function failed() {
	return failures;
}

// ---- TOTP (RFC 6238: HMAC-SHA-1, 30 s steps, 6 digits) ----

function base32(s) {
	const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	let bits = 0, v = 0;
	const out = [];
	for (const ch of String(s).toUpperCase().replace(/[\s=-]/g, '')) {
		const i = A.indexOf(ch);
		if (i < 0)
			throw new Error('not base32: ' + ch);
		v = (v << 5) | i;
		bits += 5;
		if (bits >= 8) {
			out.push((v >>> (bits - 8)) & 0xff);
			bits -= 8;
		}
	}
	return Buffer.from(out);
}

function hotp(key, counter) {
	const c = Buffer.alloc(8);
	c.writeBigUInt64BE(BigInt(counter));
	const h = crypto.createHmac('sha1', key).update(c).digest();
	const o = h[h.length - 1] & 0x0f;
	const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
	return String(n % 1000000).padStart(6, '0');
}

function step(t) {
	return Math.floor((t === undefined ? Date.now() : t) / 30000);
}

// Each identity's codes in increasing time steps: the server accepts the steps T-1..T+1
// and never the same step twice, so two or three fresh codes can be had without waiting.
class Totp {
	constructor(secret) {
		this.key = base32(secret);
		this.last = -Infinity;
	}
	async next() {
		for (;;) {
			const t = Date.now();
			const now = step(t);
			/* the previous step only early in this one: near its end the server may already
			 * count a step further and refuse it */
			const c = Math.max(t % 30000 < 20000 ? now - 1 : now, this.last + 1);
			if (c <= now + 1) {
				this.last = c;
				this.lastCode = hotp(this.key, c);
				return this.lastCode;
			}
			await new Promise((r) => setTimeout(r, 500));
		}
	}
	// a 6-digit code that is certainly not valid now
	wrong() {
		const now = step();
		const valid = new Set([-2, -1, 0, 1, 2].map((d) => hotp(this.key, now + d)));
		for (let i = 0; ; i++) {
			const c = String((123456 + i * 7919) % 1000000).padStart(6, '0');
			if (!valid.has(c))
				return c;
		}
	}
}

// ---- API ----

async function api(F, method, p, opts) {
	const o = opts || {};
	const headers = { Accept: 'application/json' };
	if (o.token)
		headers.Authorization = 'Bearer ' + o.token;
	let body;
	if (o.body !== undefined) {
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(o.body);
	}
	const r = await fetch(F.url + '/api/v1' + p, { method, headers, body });
	const text = await r.text();
	let json = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch (e) {
		json = null;
	}
	return { status: r.status, json, text };
}

// A request created by an operator through the API; throws when the server refuses.
async function createRequest(F, who, req) {
	const r = await api(F, 'POST', '/requests', { token: F.tokens[who], body: req });
	if (r.status !== 201 && r.status !== 200)
		throw new Error('create request: HTTP ' + r.status + ' ' + r.text);
	return r.json;
}

async function getRequest(F, who, id) {
	const r = await api(F, 'GET', '/requests/' + id, { token: F.tokens[who] });
	if (r.status !== 200)
		throw new Error('get request ' + id + ': HTTP ' + r.status + ' ' + r.text);
	return r.json;
}

// ---- browser ----

async function launch() {
	let pw;
	try {
		pw = require('playwright-core');
	} catch (e) {
		pw = require(path.join(__dirname, 'node_modules', 'playwright-core'));
	}
	return pw.chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync'],
	});
}

// A page that records every dialog (and dismisses it) and every uncaught error.
async function newPage(browser) {
	const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
	const page = await ctx.newPage();
	page.setDefaultTimeout(8000);
	page.dialogs = [];
	page.errors = [];
	page.on('dialog', (d) => {
		page.dialogs.push(d.type() + ': ' + d.message());
		d.dismiss().catch(() => {});
	});
	page.on('pageerror', (e) => page.errors.push(e.message));
	page.on('console', (m) => {
		/* a refused request (403 on purpose) is logged as a failed resource load: not a script error */
		if (m.type() === 'error' && !/^Failed to load resource/.test(m.text()))
			page.errors.push('console: ' + m.text());
	});
	return page;
}

async function login(F, page, who, totp) {
	await page.goto(F.url + '/login.html');
	await page.fill('#token', F.tokens[who]);
	if (totp)
		await page.fill('#totp', totp);
	await page.click('#login button[type=submit]');
}

// Basic accessibility of the page as shown: a language, one h1, a name for every
// form control and button, no positive tabindex. Reported as one check per screenshot.
async function a11y(page, where) {
	const problems = await page.evaluate(() => {
		const p = [];
		if (!document.documentElement.lang)
			p.push('no lang on <html>');
		const h1 = document.querySelectorAll('h1').length;
		if (h1 !== 1)
			p.push(h1 + ' h1 elements');
		for (const c of document.querySelectorAll('input:not([type=hidden]), select, textarea'))
			if (!(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !c.getAttribute('aria-labelledby'))
				p.push('unlabelled ' + c.tagName.toLowerCase() + (c.name ? ' ' + c.name : ''));
		for (const b of document.querySelectorAll('button'))
			if (!b.textContent.trim() && !b.getAttribute('aria-label'))
				p.push('button without a name');
		for (const e of document.querySelectorAll('[tabindex]'))
			if (Number(e.getAttribute('tabindex')) > 0)
				p.push('positive tabindex');
		return p;
	});
	report(problems.length === 0, where + ': labels, headings and language are in place', problems.join('; '));
}

async function shot(F, page, name) {
	await a11y(page, name);
	fs.mkdirSync(F.artifacts, { recursive: true });
	await page.screenshot({ path: path.join(F.artifacts, name + '.png'), fullPage: true });
}

function fixture() {
	const f = process.env.ESCORT_FIXTURE;
	if (!f)
		throw new Error('ESCORT_FIXTURE is not set');
	const F = JSON.parse(fs.readFileSync(f, 'utf8'));
	F.totp = {};
	for (const [k, v] of Object.entries(F.totp_secrets || {}))
		F.totp[k] = new Totp(v);
	return F;
}

// step(name, fn): runs fn; an exception is one failed check named after the step.
async function guard(name, fn) {
	try {
		return await fn();
	} catch (e) {
		report(false, name, e && e.stack ? e.stack.split('\n').slice(0, 4).join(' | ') : String(e));
		return undefined;
	}
}

module.exports = { report, failed, Totp, hotp, base32, api, createRequest, getRequest, launch, newPage, login, shot,
	fixture, guard };
