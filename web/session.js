/* session.js — one escorted interactive session, live: the output as it happens (escorts
 * full, operators redacted, from GET /api/v1/sessions/ID/events), every line the operator
 * entered with its decision, the line waiting for a decision with lockbox's findings
 * highlighted and explained (render.js, as on the request page), approve/deny through the
 * request endpoints (a line is a request), the kill switch, and presence: who counts
 * toward the session's quorum, with an escort's own page keeping him joined and asking for
 * his presence check (a click, or a TOTP code) when the policy demands one. */
'use strict';

(() => {
	const { $, el, clear, api, riskBadge, stateBadge, fmtTime, errorBox, RISK_WORDS, sevRank } = Escort;
	const { commandCard, decisionSection, worstRisk } = EscortRender;
	const root = $('#session');
	const msg = $('#msg');
	const id = Escort.param('id');
	const OUT_MAX = 512 * 1024; /* characters kept on the page; older output scrolls away */
	let current = null;
	let busy = false;
	let es = null;

	/* built once, so that a refresh of the rest keeps the live output */
	const head = el('div#sess-head');
	const waiting = el('div#waiting', { 'aria-live': 'polite' });
	const lines = el('div#lines');
	const output = el('pre.termout#live-output', { tabindex: '0', 'aria-label': 'Session output', 'aria-live': 'off' });
	const presence = el('section.card#presence', { 'aria-labelledby': 'presence-h', hidden: true });
	const liveFlag = el('span#live.live', { role: 'status', 'aria-live': 'polite' }, 'Connecting…');
	const outFlag = el('span.flag#out-flag');

	/* terminal output as text: colour and cursor sequences dropped, \r\n as newlines */
	function termText(s) {
		return String(s)
			.replace(/\x1b\[[0-?]*[ -\/]*[@-~]/g, '')
			.replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, '')
			.replace(/\r\n/g, '\n')
			.replace(/\r/g, '');
	}

	function appendOut(text, cls) {
		const atEnd = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
		output.append(cls ? el('span.' + cls, text) : el('span', text));
		let total = output.textContent.length;
		while (total > OUT_MAX && output.firstChild) {
			total -= output.firstChild.textContent.length;
			output.firstChild.remove();
		}
		if (atEnd)
			output.scrollTop = output.scrollHeight;
	}

	function meta(s) {
		const row = (k, v) => [el('dt', k), el('dd', v)];
		return el('dl.meta',
			row('Operator', el('strong', s.operator)),
			row('Target', el('strong', s.target)),
			row('Ticket', s.ticket || '—'),
			row('Started', fmtTime(s.created)),
			s.ended ? row('Ended', [fmtTime(s.ended), s.end_reason ? el('span.muted', ' (' + s.end_reason + ')') : null]) : null,
			s.recording_sha256 ? row('Recording SHA-256', el('code.hash', s.recording_sha256)) : null,
			s.output_redacted ? null : row('Recording', el('a#replay-link', { href: 'session-replay.html?id=' + encodeURIComponent(s.id) }, s.ended ? 'Replay' : 'Replay so far')));
	}

	/* two steps (no dialog): "Kill the session", then "Yes, kill it" */
	function killButton(s) {
		if (!s.can || !s.can.kill)
			return null;
		const out = el('span#kill-msg', { role: 'status' });
		const b = el('button.deny#kill-btn', { type: 'button' }, 'Kill the session');
		const yes = el('button.deny#kill-confirm', { type: 'button', hidden: true }, 'Yes, kill it and stop everything it started');
		b.addEventListener('click', () => {
			yes.hidden = false;
			yes.focus();
		});
		yes.addEventListener('click', async () => {
			if (busy)
				return;
			busy = true;
			b.disabled = yes.disabled = true;
			try {
				await api('POST', '/sessions/' + encodeURIComponent(s.id) + '/kill', { reason: 'killed by ' + ((Escort.me() || {}).identity || 'an escort') + ' from the console' });
				msg.replaceChildren(el('p.ok', { role: 'status' }, 'Session #' + s.id + ' was killed.'));
				busy = false;
				await load();
			} catch (e) {
				busy = false;
				b.disabled = yes.disabled = false;
				errorBox(out, e);
			}
		});
		return [b, ' ', yes, out];
	}

	function renderHead(s) {
		clear(head).append(
			el('div.pagehead',
				el('h1', 'Session #' + s.id),
				stateBadge(s.state),
				liveFlag,
				el('div.controls', killButton(s))),
			meta(s));
		outFlag.className = 'flag ' + (s.output_redacted ? 'redacted' : 'full');
		outFlag.textContent = s.output_redacted ? 'redacted' : 'full';
	}

	/* The decision form for one waiting line (as request.js: comments and a fresh code
	 * for high and critical risk). */
	function decideForm(r) {
		const me = Escort.me() || {};
		const can = r.can || {};
		const mayApprove = Escort.isApprover() && !!can.approve;
		const mayDeny = Escort.isApprover() && !!can.deny;
		if (!mayApprove && !mayDeny)
			return el('p.muted', r.requester === me.identity ? 'Your line waits for an escort.' :
				Escort.isApprover() ? 'You cannot decide this line (the policy requires someone else, or you already decided).' :
					'Only escorts and reviewers decide lines.');
		const risk = worstRisk(r);
		const strict = risk === 'high' || risk === 'critical';
		const out = el('div.act-msg', { role: 'status', 'aria-live': 'polite' });
		const cid = 'comment-' + r.id;
		const tid = 'totp-' + r.id;
		const comment = el('textarea#' + cid, { name: 'comment', rows: '2' });
		const totp = el('input#' + tid, { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', pattern: '[0-9]{6}', placeholder: '6 digits' });
		const act = async (kind) => {
			if (busy)
				return;
			clear(out);
			const c = comment.value.trim();
			const t = totp.value.trim();
			if (kind === 'deny' && !c) {
				out.append(el('p.error', { role: 'alert' }, 'Say why you deny it: a comment is required.'));
				return comment.focus();
			}
			if (kind === 'approve' && strict && (!c || !/^[0-9]{6}$/.test(t))) {
				out.append(el('p.error', { role: 'alert' }, 'This is ' + risk + ' risk: a comment and a fresh one-time code are required to approve it.'));
				return comment.focus();
			}
			const body = { comment: c };
			if (kind === 'approve' && t)
				body.totp = t;
			busy = true;
			for (const b of form.querySelectorAll('button'))
				b.disabled = true;
			try {
				await api('POST', '/requests/' + encodeURIComponent(r.id) + '/' + kind, body);
				msg.replaceChildren(el('p.ok', { role: 'status' }, (kind === 'deny' ? 'You denied' : 'You approved') + ' the line (request #' + r.id + ').'));
				busy = false;
				await load();
			} catch (e) {
				busy = false;
				errorBox(out, e);
				for (const b of form.querySelectorAll('button'))
					b.disabled = false;
			}
		};
		const form = el('form.decide', { on: { submit: (ev) => ev.preventDefault() } },
			el('label', { for: cid }, 'Comment'), comment,
			mayApprove ? [el('label', { for: tid }, 'One-time code'), totp] : null,
			el('p.hint', strict ? 'High risk: approving needs a comment and a fresh one-time code.' : 'A comment is required to deny.'),
			el('div.buttons',
				mayApprove ? el('button.approve#approve-btn', { type: 'button', on: { click: () => act('approve') } }, 'Approve') : null,
				mayDeny ? el('button.deny#deny-btn', { type: 'button', on: { click: () => act('deny') } }, 'Deny') : null),
			out);
		return form;
	}

	function waitingCard(l) {
		const r = l.request;
		const risk = worstRisk(r);
		const cmds = r.commands || [];
		const top = cmds.map((c) => c.analysis || {}).sort((a, b) => sevRank(b.risk) - sevRank(a.risk))[0] || {};
		return el('section.card.waiting-line', { 'aria-labelledby': 'wl-h-' + l.seq, 'data-seq': l.seq, 'data-request': r.id },
			el('h2#wl-h-' + l.seq, 'Line ' + l.seq + ' waits for a decision ', riskBadge(risk)),
			el('div.verdict.risk-bg-' + risk, { role: 'note' }, el('strong', RISK_WORDS[risk] + '. '), top.explanation || ''),
			cmds.map((c, i) => commandCard(c, i, cmds.length)),
			decideForm(r),
			decisionSection(r),
			el('p', el('a', { href: 'request.html?id=' + encodeURIComponent(r.id) }, 'Open as request #' + r.id)));
	}

	function cmdText(r) {
		const c = (r.commands || [])[0] || {};
		return typeof c.text === 'string' ? c.text : typeof c.command === 'string' ? c.command : '';
	}

	function render(s) {
		renderHead(s);
		const ls = (s.lines || []).filter((l) => l.request);
		const wait = ls.filter((l) => l.request.state === 'pending');
		/* keep half-typed comments across a live refresh */
		const keep = {};
		for (const t of waiting.querySelectorAll('textarea'))
			keep[t.id] = t.value;
		clear(waiting).append(...(wait.length ? wait.map(waitingCard) : [el('p.muted.nowait', 'No line is waiting for a decision.')]));
		for (const [k, v] of Object.entries(keep))
			if (v && document.getElementById(k))
				document.getElementById(k).value = v;
		clear(lines).append(ls.length ? el('table.lines',
			el('thead', el('tr', ['#', 'Line', 'Risk', 'State'].map((h) => el('th', { scope: 'col' }, h)))),
			el('tbody', ls.map((l) => el('tr', { 'data-seq': l.seq },
				el('td', el('a', { href: 'request.html?id=' + encodeURIComponent(l.request.id) }, String(l.seq))),
				el('td', el('code.cmdpreview', cmdText(l.request))),
				el('td', riskBadge(worstRisk(l.request))),
				el('td', stateBadge(l.request.state)))))) : el('p.muted', 'No lines yet.'));
	}

	/* ---- presence (GET/POST /api/v1/sessions/ID/presence) ---- */

	let pres = null;       /* the last presence status */
	let presTimer = null;
	let proving = false;
	const presStatus = el('div#presence-status', { role: 'status', 'aria-live': 'polite' });
	const presPrompt = el('div#presence-prompt');

	function isOpen(s) {
		return s && (s.state === 'active' || s.state === 'paused');
	}

	function escortRow(e) {
		let what;
		if (e.counts)
			what = el('span.ok', 'counts' + (e.lapses_at ? ' until ' + fmtTime(e.lapses_at) : ''));
		else if (!e.present)
			what = el('span.muted', 'not seen since ' + fmtTime(e.seen));
		else if (e.proved_at)
			what = el('span.muted', 'presence check lapsed at ' + fmtTime(e.lapses_at));
		else
			what = el('span.muted', 'joined; has not proved presence yet');
		return el('li', { 'data-escort': e.identity }, el('strong', e.identity), ' — ', what);
	}

	function renderPresenceStatus(p) {
		const need = p.require_escorts;
		const every = (t) => t % 3600 === 0 ? t / 3600 + ' h' : t % 60 === 0 ? t / 60 + ' min' : Escort.fmtDuration(t);
		const check = p.check ? (p.check.method === 'totp' ? 'a one-time code' : 'a click') + ' every ' + every(p.check.every) : null;
		clear(presStatus).append(
			el('p', { class: p.quorum ? 'ok' : 'error', 'data-quorum': p.quorum ? 'met' : 'missing' },
				p.quorum ? p.counted + ' of ' + need + ' required escort' + (need === 1 ? '' : 's') + ' present: lines may run.'
					: 'Lines wait: ' + p.counted + ' of ' + need + ' required escort' + (need === 1 ? '' : 's') + ' present' + (p.why ? ': ' + p.why + '.' : '.')),
			check ? el('p.hint', 'The policy asks each escort to prove presence with ' + check + '.') : null,
			p.escorts.length ? el('ul.escorts', p.escorts.map(escortRow)) : el('p.muted', 'No escort has joined.'));
	}

	/* The "still here" prompt, built once per due check so a half-typed code survives the
	 * heartbeat's refreshes. */
	function renderPrompt(p) {
		const due = !!(p.you && p.you.due && p.check && isOpen(current));
		if (!due) {
			clear(presPrompt);
			return;
		}
		if (presPrompt.firstChild)
			return;
		const totp = p.check.method === 'totp';
		const out = el('div.act-msg', { role: 'status', 'aria-live': 'polite' });
		const code = totp ? el('input#presence-totp', { name: 'presence-totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', pattern: '[0-9]{6}', placeholder: '6 digits' }) : null;
		const btn = el('button.approve#still-here', { type: 'submit' }, "I'm still here");
		const form = el('form.decide#presence-form', { on: { submit: async (ev) => {
			ev.preventDefault();
			if (proving)
				return;
			clear(out);
			const body = { action: 'prove' };
			if (totp) {
				const c = code.value.trim();
				if (!/^[0-9]{6}$/.test(c)) {
					out.append(el('p.error', { role: 'alert' }, 'Enter the 6-digit code from your authenticator.'));
					return code.focus();
				}
				body.code = c;
			}
			proving = true;
			btn.disabled = true;
			try {
				const np = await api('POST', '/sessions/' + encodeURIComponent(id) + '/presence', body);
				proving = false;
				clear(presPrompt);
				const mine = np.escorts.find((e) => e.identity === (Escort.me() || {}).identity);
				msg.replaceChildren(el('p.ok#presence-ok', { role: 'status' }, 'Presence confirmed' +
					(mine && mine.lapses_at ? '; it counts until ' + fmtTime(mine.lapses_at) : '') + '.'));
				showPresence(np);
			} catch (e) {
				proving = false;
				btn.disabled = false;
				if (code)
					code.value = '';
				errorBox(out, e);
			}
		} } },
			el('h3', 'Presence check'),
			el('p', totp ? 'The policy asks you to prove you are still watching: enter your current one-time code.'
				: 'The policy asks you to prove you are still watching.'),
			totp ? [el('label', { for: 'presence-totp' }, 'One-time code'), code] : null,
			el('div.buttons', btn),
			out);
		presPrompt.append(form);
		if (code)
			code.focus();
	}

	function showPresence(p) {
		pres = p;
		if (!p || !p.require_escorts) {
			presence.hidden = true;
			return;
		}
		presence.hidden = false;
		renderPresenceStatus(p);
		renderPrompt(p);
	}

	/* An escort's open page keeps him joined (the heartbeat the CLI's join sends); others
	 * only look. Every few seconds, while the session is open. */
	async function presenceTick() {
		presTimer = null;
		if (!current)
			return;
		const path = '/sessions/' + encodeURIComponent(id) + '/presence';
		try {
			let p = await api('GET', path);
			if (isOpen(current) && p.require_escorts && p.you && p.you.may_join)
				p = await api('POST', path, { action: 'join' });
			showPresence(p);
		} catch (e) {
			if (e.status === 401)
				return;
		}
		if (isOpen(current)) {
			/* a third of presence_every keeps a joined escort fresh; without a quorum to
			 * keep, only look now and then (the policy may change) */
			const every = pres && pres.presence_every ? pres.presence_every : 10;
			const wait = pres && !pres.require_escorts ? 30000 : Math.min(5000, Math.max(1000, every * 1000 / 3));
			presTimer = setTimeout(presenceTick, wait);
		} else
			clear(presPrompt);
	}

	let pending = null;
	/* coalesced: markers come in bursts */
	function reload() {
		if (pending)
			return;
		pending = setTimeout(() => {
			pending = null;
			if (!busy)
				load();
		}, 150);
	}

	function stream() {
		if (!window.EventSource)
			return;
		es = new EventSource('/api/v1/sessions/' + encodeURIComponent(id) + '/events');
		const data = (ev) => {
			try {
				return JSON.parse(ev.data);
			} catch (e) {
				return null;
			}
		};
		es.addEventListener('output', (ev) => {
			const d = data(ev);
			if (d && typeof d.data === 'string')
				appendOut(termText(d.data));
		});
		es.addEventListener('marker', (ev) => {
			const d = data(ev);
			if (d && typeof d.data === 'string')
				appendOut('[escort] ' + d.data + '\n', 'marker');
			reload();
		});
		es.addEventListener('state', (ev) => {
			const d = data(ev);
			liveFlag.classList.add('on');
			liveFlag.textContent = 'Live';
			if (d && current && d.state !== current.state)
				reload();
		});
		es.addEventListener('error', () => {
			/* the server ends each response; the browser reconnects where it left off,
			 * and a finished session answers 204, which closes the stream */
			if (es.readyState === EventSource.CLOSED) {
				liveFlag.classList.remove('on');
				liveFlag.textContent = 'Ended';
			}
		});
		window.addEventListener('pagehide', () => es.close());
	}

	async function load() {
		if (!id || !/^[0-9]+$/.test(id)) {
			clear(root).append(el('p.error', 'No session number given.'));
			return;
		}
		try {
			const s = await api('GET', '/sessions/' + encodeURIComponent(id));
			current = s;
			document.title = 'Session #' + s.id + ' · escort';
			render(s);
		} catch (e) {
			errorBox(msg, e);
		}
	}

	clear(root).append(head,
		el('div.layout',
			el('div.col-main',
				el('section.card.live-output', { 'aria-labelledby': 'out-h' },
					el('h2#out-h', 'Output ', outFlag),
					output),
				el('section.card', { 'aria-labelledby': 'lines-h' }, el('h2#lines-h', 'Lines'), lines)),
			el('div.col-side', presence, waiting)));
	presence.append(el('h2#presence-h', 'Escorts present'), presStatus, presPrompt);

	Escort.session().then(async () => {
		await load();
		stream();
		presenceTick();
	}).catch((e) => { if (e.status !== 401) errorBox(msg, e); });
})();
