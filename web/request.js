/* request.js — one request as the escort reviews it: every command with lockbox's
 * findings highlighted at their exact byte spans, the plain-words explanation, categories
 * and ATT&CK ids, the policy decision and its rules, approvals so far and what is still
 * required, the approve/deny form, the output and the attestation diff. */
'use strict';

(() => {
	const { $, el, clear, api, riskBadge, stateBadge, fmtTime, parseTime, fmtDuration, errorBox, renderBytes,
		b64bytes, textBytes, sevRank, RISKS, RISK_WORDS } = Escort;
	const { commandCard, decisionSection, worstRisk } = EscortRender;
	const root = $('#request');
	const msg = $('#msg');
	const id = Escort.param('id');
	let current = null;
	let busy = false;

	function meta(r) {
		const created = parseTime(r.created);
		const row = (k, v) => [el('dt', k), el('dd', v)];
		return el('dl.meta',
			row('Requested by', el('strong', r.requester)),
			row('Target', el('strong', r.target)),
			row('Ticket', r.ticket || '—'),
			row('Created', [fmtTime(r.created), r.state === 'pending' && created ?
				el('span.muted', ' (waiting ' + fmtDuration((Date.now() - created) / 1000) + ')') : null]),
			row('Expires', fmtTime(r.expires)),
			row('Justification', r.justification ? el('span.justification', r.justification) : el('span.muted', 'none given')),
			row('Policy version', el('code.hash', String(r.policy_version || '').slice(0, 12) || '—')));
	}

	function needsText(r) {
		const n = r.needs;
		if (!n)
			return r.state === 'pending' ? '' : null;
		if (typeof n === 'string')
			return n;
		return n.text || (n.approvals !== undefined ? n.approvals + ' more approval(s) from ' + (n.from || []).join(' or ') : '');
	}

	function approvalsSection(r) {
		const list = r.approvals || [];
		const needs = needsText(r);
		return el('section.card.approvals', { 'aria-labelledby': 'apv-h' },
			el('h2#apv-h', 'Approvals'),
			list.length ? el('ul.approval-list', list.map((a) => el('li.approval.kind-' + (a.kind === 'deny' ? 'deny' : 'approve'),
				el('span.kind', a.kind === 'deny' ? '✗ denied' : '✓ approved'), ' by ', el('strong', a.approver || a.by || '?'),
				' at ', fmtTime(a.created || a.at),
				a.matches === false ? el('span.flag.void', { title: 'the approval no longer matches the request (content, target or policy changed)' }, 'void') : null,
				a.comment ? el('blockquote.comment', a.comment) : null))) : el('p.muted', 'No decisions yet.'),
			needs ? el('p.needs', el('strong', 'Still required: '), needs) : null);
	}

	/* The approve/deny form. Shown only to escorts and reviewers the server allows to act. */
	function actionSection(r) {
		const me = Escort.me() || {};
		const pending = r.state === 'pending';
		const can = r.can || null;
		const own = r.requester === me.identity;
		const mayApprove = Escort.isApprover() && pending && (can ? !!can.approve : !own);
		const mayDeny = Escort.isApprover() && pending && (can ? !!can.deny : !own);
		if (can && (can.run || can.cancel) && !mayApprove && !mayDeny)
			return ownerSection(r, can);
		if (!pending)
			return null;
		if (!mayApprove && !mayDeny) {
			return el('section.card.actions', { 'aria-labelledby': 'act-h' },
				el('h2#act-h', 'Your decision'),
				el('p.muted', own ? 'You made this request; someone else must decide it.' :
					Escort.isApprover() ? 'You cannot decide this request (the policy requires someone else, or you already decided).' :
						'Only escorts and reviewers decide requests.'));
		}
		const risk = worstRisk(r);
		const strict = risk === 'high' || risk === 'critical';
		const out = el('div#act-msg', { role: 'status', 'aria-live': 'polite' });
		const comment = el('textarea#comment', { name: 'comment', rows: '3', 'aria-describedby': 'comment-hint' });
		const totp = el('input#act-totp', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', pattern: '[0-9]{6}', placeholder: '6 digits', 'aria-describedby': 'totp-hint' });
		const act = async (kind) => {
			if (busy)
				return;
			clear(out);
			const c = comment.value.trim();
			const t = totp.value.trim();
			if (kind === 'deny' && !c) {
				out.append(el('p.error', { role: 'alert' }, 'Say why you deny it: a comment is required.'));
				comment.focus();
				return;
			}
			if (kind === 'approve' && strict && !c) {
				out.append(el('p.error', { role: 'alert' }, 'This is ' + risk + ' risk: a comment is required to approve it.'));
				comment.focus();
				return;
			}
			if (kind === 'approve' && strict && !/^[0-9]{6}$/.test(t)) {
				out.append(el('p.error', { role: 'alert' }, 'This is ' + risk + ' risk: enter a fresh one-time code to approve it.'));
				totp.focus();
				return;
			}
			const body = { comment: c };
			if (kind === 'approve' && t)
				body.totp = t;
			busy = true;
			for (const b of form.querySelectorAll('button'))
				b.disabled = true;
			try {
				await api('POST', '/requests/' + encodeURIComponent(r.id) + '/' + kind, body);
				msg.replaceChildren(el('p.ok', { role: 'status' }, kind === 'deny' ? 'You denied request #' + r.id + '.' : 'You approved request #' + r.id + '.'));
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
			strict ? el('p.warn', el('strong', RISK_WORDS[risk] + '.'), ' Read every finding above. Approving needs a comment and a fresh one-time code.') : null,
			el('label', { for: 'comment' }, 'Comment'),
			comment,
			el('p.hint#comment-hint', strict ? 'Required to approve or deny.' : 'Required to deny; optional to approve.'),
			mayApprove ? [el('label', { for: 'act-totp' }, 'One-time code'), totp,
				el('p.hint#totp-hint', strict ? 'Required: your authenticator\'s current code.' : 'Optional for this risk level.')] : null,
			el('div.buttons',
				mayApprove ? el('button.approve#approve-btn', { type: 'button', on: { click: () => act('approve') } }, 'Approve') : null,
				mayDeny ? el('button.deny#deny-btn', { type: 'button', on: { click: () => act('deny') } }, 'Deny') : null),
			out);
		return el('section.card.actions', { 'aria-labelledby': 'act-h' }, el('h2#act-h', 'Your decision'), form);
	}

	/* The requester's own buttons: run an approved request, cancel a pending one. */
	function ownerSection(r, can) {
		const out = el('div#act-msg', { role: 'status', 'aria-live': 'polite' });
		const act = async (kind, btn) => {
			if (busy)
				return;
			busy = true;
			btn.disabled = true;
			clear(out).append(el('p.muted', kind === 'run' ? 'Running… the output appears when the command has finished.' : 'Cancelling…'));
			try {
				await api('POST', '/requests/' + encodeURIComponent(r.id) + '/' + kind, {});
				busy = false;
				await load();
			} catch (e) {
				busy = false;
				btn.disabled = false;
				errorBox(out, e);
			}
		};
		const run = can.run ? el('button.approve#run-btn', { type: 'button' }, 'Run the approved command' + ((r.commands || []).length > 1 ? 's' : '')) : null;
		const cancel = can.cancel ? el('button.deny#cancel-btn', { type: 'button' }, 'Cancel the request') : null;
		if (run)
			run.addEventListener('click', () => act('run', run));
		if (cancel)
			cancel.addEventListener('click', () => act('cancel', cancel));
		const own = r.requester === (Escort.me() || {}).identity;
		return el('section.card.actions', { 'aria-labelledby': 'act-h' },
			el('h2#act-h', own ? 'Your request' : 'Next step'),
			el('p.muted', r.state === 'pending' ? 'Waiting for the escorts\' decision.' : 'Approved: it runs exactly the bytes shown.'),
			el('div.buttons', run, cancel),
			out);
	}

	function outputBlock(text, b64) {
		let bytes;
		if (typeof b64 === 'string') {
			try {
				bytes = b64bytes(b64);
			} catch (e) {
				bytes = null;
			}
		}
		if (!bytes)
			bytes = textBytes(String(text || ''));
		return el('pre.output', { tabindex: '0' }, renderBytes(bytes, []));
	}

	function executionSection(r) {
		const x = r.execution;
		if (!x)
			return null;
		const res = x.result || {};
		const red = res.redactions || x.redactions || {};
		const nred = typeof red === 'number' ? red : Object.values(red).reduce((a, b) => a + (Number(b) || 0), 0);
		const redacted = x.output_redacted === true || (x.output_redacted === undefined && Escort.hasRole('operator') && !Escort.isApprover());
		const views = [];
		if (typeof x.output_full === 'string' && typeof x.output_redacted_text === 'string') {
			views.push(['full', x.output_full], ['redacted', x.output_redacted_text]);
		}
		const body = el('div.outbox');
		const show = (which) => {
			clear(body);
			if (views.length) {
				const v = views.find((y) => y[0] === which) || views[0];
				body.append(outputBlock(v[1]));
			} else {
				body.append(outputBlock(x.output, x.output_b64));
			}
		};
		show('full');
		const att = res.attestation || x.attestation;
		return el('section.card.execution', { 'aria-labelledby': 'exe-h' },
			el('h2#exe-h', 'Execution'),
			el('dl.meta',
				el('dt', 'Run by'), el('dd', x.runner || '—'),
				el('dt', 'Started'), el('dd', fmtTime(x.started)),
				el('dt', 'Finished'), el('dd', fmtTime(x.finished)),
				el('dt', 'Exit status'), el('dd', x.exit_code === undefined || x.exit_code === null ? '—' :
					el('span' + (x.exit_code === 0 ? '.ok' : '.bad'), String(x.exit_code))),
				res.timed_out ? [el('dt', 'Timed out'), el('dd.bad', 'yes')] : null),
			el('h3', 'Output ', el('span.flag' + (redacted ? '.redacted' : '.full'), redacted ? 'redacted' : 'full'),
				nred ? el('span.muted', ' ' + nred + (redacted ? ' secret(s) masked' : ' secret(s) in it, masked in the operator\'s view') +
					(typeof red === 'object' ? ' (' + Object.entries(red).map(([k, v]) => k + ': ' + v).join(', ') + ')' : '')) : null),
			views.length ? el('div.toggle', { role: 'group', 'aria-label': 'Output view' },
				views.map((v) => el('button', { type: 'button', on: { click: () => show(v[0]) } }, v[0]))) : null,
			body,
			att ? el('div.attestation',
				el('h3', 'What changed on the target'),
				att.error ? el('p.error', 'Attestation failed: ' + att.error) :
					(att.diff || []).length ? el('ul.diff', att.diff.map((l) => el('li' + (/^(added|new)/.test(l) ? '.added' : /^(removed|deleted)/.test(l) ? '.removed' : ''), l))) :
						el('p.ok', 'No change to the watched state (keys, crontabs, units, sudoers, PAM, users, ports, setuid files).')) : null);
	}

	function render(r) {
		const risk = worstRisk(r);
		const cmds = r.commands || [];
		const top = cmds.map((c) => c.analysis || {}).sort((a, b) => sevRank(b.risk) - sevRank(a.risk))[0] || {};
		clear(root).append(
			el('div.pagehead',
				el('h1', 'Request #' + r.id),
				stateBadge(r.state),
				riskBadge(risk)),
			el('div.verdict.risk-bg-' + risk, { role: 'note' },
				el('strong', RISK_WORDS[risk] + '. '), top.explanation || ''),
			meta(r),
			el('div.layout',
				el('div.col-main',
					el('h2', cmds.length > 1 ? 'Commands (' + cmds.length + ')' : 'Command'),
					cmds.map((c, i) => commandCard(c, i, cmds.length)),
					executionSection(r)),
				el('div.col-side',
					actionSection(r),
					approvalsSection(r),
					decisionSection(r))));
	}

	async function load() {
		if (!id || !/^[0-9]+$/.test(id)) {
			clear(root).append(el('p.error', 'No request number given.'));
			return;
		}
		try {
			const r = await api('GET', '/requests/' + encodeURIComponent(id));
			current = r;
			document.title = 'Request #' + r.id + ' · escort';
			/* keep a half-typed comment across a live refresh */
			const c = $('#comment');
			const keep = c ? c.value : '';
			render(r);
			if (keep && $('#comment'))
				$('#comment').value = keep;
		} catch (e) {
			errorBox(root, e);
		}
	}

	Escort.session().then(() => {
		load();
		Escort.live((d) => {
			if (d && String(d.id) === String(id) && !busy && current && d.state !== current.state)
				load();
		});
	}).catch((e) => { if (e.status !== 401) errorBox(msg, e); });
})();
