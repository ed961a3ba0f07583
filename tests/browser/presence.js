// presence.js — the live session page's presence check in a real browser against a real
// `escort serve` (the example policy: dod demands a TOTP code every 5 minutes). The
// session itself is started from the CLI by tests/integration/85-console-presence.t
// (ESCORT_SESSION_ID names it); its first line waits because no escort counts yet. The
// escort's page joins, shows the prompt with a code field; a wrong code is refused and the
// session stays paused; the right one resumes it (the marker appears live) and the waiting
// line comes up for a decision. Same protocol as run.js: one JSON line per check.
'use strict';

const L = require('./lib.js');
const { report: ok, guard } = L;

const SID = process.env.ESCORT_SESSION_ID;

async function outputText(page) {
	return page.evaluate(() => (document.querySelector('#live-output') || {}).textContent || '');
}

async function waitOutput(page, re, ms) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		const t = await outputText(page);
		if (re.test(t))
			return t;
		await page.waitForTimeout(100);
	}
	return null;
}

async function presenceScenario(F, browser) {
	const page = await L.newPage(browser);
	await guard('escort signs in', async () => {
		await L.login(F, page, 'esc-1', await F.totp['esc-1'].next());
		await page.waitForURL(/index\.html/);
		ok(true, 'escort esc-1 signs in');
	});
	await guard('prompt', async () => {
		await page.goto(F.url + '/session.html?id=' + SID);
		await page.waitForSelector('#presence [data-quorum="missing"]');
		const st = await page.textContent('#presence-status');
		ok(/Lines wait: 0 of 1 required escort present: esc-1 has not proved presence yet/.test(st),
			'the live page says lines wait and why (joined, presence not proved)', st);
		await page.waitForSelector('#presence-form #presence-totp');
		ok(await page.getByRole('button', { name: "I'm still here" }).isVisible(),
			'the page asks for a presence check: a code field and an "I\'m still here" button');
		const out = await waitOutput(page, /paused: 0 of 1 required escorts present/, 4000);
		ok(out !== null, 'the live output shows the session paused', await outputText(page));
		await L.shot(F, page, 'session-presence-due');
	});
	await guard('wrong code', async () => {
		await page.fill('#presence-totp', F.totp['esc-1'].wrong());
		await page.click('#still-here');
		await page.waitForSelector('#presence-form .error, #presence-form [role=alert]');
		const t = await page.textContent('#presence-form');
		ok(/TOTP code is wrong/.test(t), 'a wrong code is refused with the reason', t);
		await page.waitForTimeout(600);
		ok(await page.locator('#presence [data-quorum="missing"]').count() === 1 &&
			await page.locator('#presence-form').count() === 1,
			'after a wrong code lines still wait and the prompt stays');
	});
	await guard('right code', async () => {
		const t0 = Date.now();
		await page.fill('#presence-totp', await F.totp['esc-1'].next());
		await page.click('#still-here');
		await page.waitForSelector('#presence [data-quorum="met"]');
		ok(await page.locator('#presence-form').count() === 0 && await page.locator('#presence-ok').count() === 1,
			'the right code confirms presence; the prompt goes away');
		const out = await waitOutput(page, /resumed: escorts present: esc-1/, 6000);
		ok(out !== null, 'clicking it resumes the session: the marker appears live (' + (Date.now() - t0) + ' ms)', await outputText(page));
		await page.waitForSelector('.waiting-line[data-seq="1"]');
		ok(true, 'the line that waited for the quorum now waits for a decision');
		const li = await page.textContent('#presence li[data-escort="esc-1"]');
		ok(/counts until/.test(li), 'esc-1 is listed as counting, with when his proof lapses', li);
		ok(page.errors.length === 0, 'no script error on the page', page.errors.join('; '));
		await L.shot(F, page, 'session-presence-proved');
	});
	await page.context().close();
}

(async () => {
	const deadline = setTimeout(() => {
		ok(false, 'the presence scenario finished within 50 s');
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
	else
		await guard('presence', () => presenceScenario(F, browser));
	await browser.close();
	clearTimeout(deadline);
	process.exit(L.failed() ? 1 : 0);
})();
