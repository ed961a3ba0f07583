// session.js — the console's live session page in a real browser against a real
// `escort serve`, with the session itself started from the CLI in a tmux pane by
// tests/integration/64-console-session.t (ESCORT_SESSION_ID names it; its line number
// ESCORT_SESSION_LINE waits for an escort). Same protocol as run.js: one JSON line
// {"ok","name","diag"} per check. Ends with the replay page (vendored asciinema-player).
'use strict';

const L = require('./lib.js');
const { report: ok, guard } = L;

const SID = process.env.ESCORT_SESSION_ID;
const MARK = 'approved-ran'; // the line prints it on a line of its own
const SEQ = process.env.ESCORT_SESSION_LINE || '1'; // the line that waits for an escort

async function outputText(page) {
	return page.evaluate(() => (document.querySelector('#live-output') || {}).textContent || '');
}

async function waitOutput(page, re, ms) {
	const end = Date.now() + ms;
	let t = '';
	while (Date.now() < end) {
		t = await outputText(page);
		if (re.test(t))
			return t;
		await page.waitForTimeout(100);
	}
	return null;
}

async function escortView(F, browser) {
	const page = await L.newPage(browser);
	if (process.env.SESSION_DEBUG)
		page.on('response', (r) => { if (/events/.test(r.url())) console.log('# events ' + r.status() + ' ' + r.url()); });
	await guard('escort signs in', async () => {
		await L.login(F, page, 'esc-1', await F.totp['esc-1'].next());
		await page.waitForURL(/index\.html/);
		ok(true, 'escort esc-1 signs in');
	});
	await guard('sessions list', async () => {
		await page.goto(F.url + '/sessions.html');
		await page.waitForSelector('table.sessions tr[data-id="' + SID + '"]');
		const row = await page.textContent('table.sessions tr[data-id="' + SID + '"]');
		ok(/active/.test(row) && /op-in/.test(row) && /com-web/.test(row),
			'the sessions list shows the open session with its operator and target', row);
		await L.shot(F, page, 'sessions');
	});
	await guard('waiting line', async () => {
		await page.goto(F.url + '/session.html?id=' + SID);
		await page.waitForSelector('.waiting-line[data-seq="' + SEQ + '"]');
		const card = page.locator('.waiting-line[data-seq="' + SEQ + '"]');
		const cmd = await card.locator('pre.command').first().textContent();
		ok(/curl/.test(cmd) && cmd.includes('echo ' + MARK), 'the live session page shows the waiting line exactly as typed', cmd);
		const verdict = (await card.locator('.verdict').textContent()).trim();
		ok(/risk/i.test(verdict) && verdict.length > 20, 'the waiting line comes with its plain-words explanation', verdict);
		const expl = (await card.locator('section.cmd-card p.explanation').first().textContent()).trim();
		const marks = await card.locator('pre.command mark.finding').count();
		ok(expl.length > 10 && marks > 0, 'the line is explained and its findings highlighted in its text, as on the request page',
			JSON.stringify([expl, marks]));
		ok(await card.getByRole('button', { name: 'Approve' }).isVisible(), 'the escort gets an Approve button');
		const out = await waitOutput(page, new RegExp('line ' + SEQ + ' waiting for approval'), 4000);
		ok(out !== null, 'the live output shows the session so far, up to the waiting line', await outputText(page));
		ok(!new RegExp('^' + MARK + '$', 'm').test(out || ''), 'the line has not run yet (its output is absent)', out);
		await L.shot(F, page, 'session-waiting');
	});
	await guard('approve', async () => {
		const t0 = Date.now();
		await page.locator('.waiting-line[data-seq="' + SEQ + '"]').getByRole('button', { name: 'Approve' }).click();
		const out = await waitOutput(page, new RegExp('^' + MARK + '$', 'm'), 6000);
		ok(out !== null, 'approving the line makes its output appear live (' + (Date.now() - t0) + ' ms)', await outputText(page));
		ok(new RegExp('line ' + SEQ + ' approved by esc-1').test(out || ''), 'the approval shows in the session as a marker', out);
		await page.waitForSelector('.nowait');
		ok(true, 'no line waits any more');
		await L.shot(F, page, 'session-approved');
	});
	return page;
}

async function operatorView(F, browser) {
	const page = await L.newPage(browser);
	await guard('operator view', async () => {
		await L.login(F, page, 'op-in');
		await page.waitForURL(/index\.html/);
		await page.goto(F.url + '/session.html?id=' + SID);
		const out = await waitOutput(page, new RegExp('^' + MARK + '$', 'm'), 4000);
		ok(out !== null, 'the operator watches the same session\'s output', await outputText(page));
		ok((await page.textContent('#out-flag')) === 'redacted', 'the operator\'s output is flagged redacted');
		ok(await page.locator('#approve-btn').count() === 0, 'the operator has no Approve button');
	});
	await page.context().close();
}

async function kill(F, page) {
	await guard('kill', async () => {
		await page.click('#kill-btn');
		await page.click('#kill-confirm');
		await page.waitForSelector('#sess-head .state-killed');
		ok(true, 'the kill switch ends the session (state killed)');
		const out = await waitOutput(page, /session killed by the escort's kill switch/, 4000);
		ok(out !== null, 'the kill shows in the live output', await outputText(page));
		ok(page.errors.length === 0, 'no script error on the session pages', page.errors.join('; '));
	});
	await guard('replay', async () => {
		let rec = 0;
		page.on('response', (r) => { if (/\/recording$/.test(r.url())) rec = r.status(); });
		await page.click('#replay-link');
		await page.waitForURL(/session-replay\.html/);
		await page.waitForSelector('#player .ap-player');
		ok(rec === 200, 'the replay page loads the recording (GET /sessions/ID/recording)', String(rec));
		await page.selectOption('#speed', '8');
		await page.waitForSelector('#player .ap-player');
		await page.click('#player .ap-player');
		const end = Date.now() + 8000;
		let t = '';
		while (Date.now() < end && !/approved-ran\s*\n?\s*escort|approved-ran$/m.test(t)) {
			t = await page.evaluate(() => (document.querySelector('#player .ap-term') || document.querySelector('#player')).textContent);
			if (/approved-ran(?!.*echo)/.test(t.replace(/echo approved-ran/g, '')))
				break;
			await page.waitForTimeout(200);
		}
		ok(/approved-ran/.test(t.replace(/echo approved-ran/g, '')), 'asciinema-player replays the line\'s output', t.slice(0, 600));
		await L.shot(F, page, 'session-replay');
		ok(page.errors.length === 0, 'no script or CSP error on the replay page', page.errors.join('; '));
	});
}

(async () => {
	const deadline = setTimeout(() => {
		ok(false, 'the session scenario finished within 50 s');
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
	if (!SID)
		ok(false, 'ESCORT_SESSION_ID is set');
	else {
		const page = await guard('escort view', () => escortView(F, browser));
		await guard('operator', () => operatorView(F, browser));
		if (page)
			await kill(F, page);
	}
	await browser.close();
	clearTimeout(deadline);
	process.exit(L.failed() ? 1 : 0);
})();
