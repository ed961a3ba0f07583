/* render.js — the parts of a request that the request page and the policy page both
 * show: a command with lockbox's findings highlighted at their byte spans, what it does,
 * its categories and ATT&CK ids, and a policy decision with the rules that matched. */
'use strict';

const EscortRender = (() => {
	const { el, riskBadge, renderBytes, b64bytes, textBytes, sevRank, RISKS } = Escort;

	const EFFECT_WORDS = {
		'deny': 'Forbidden by policy: it cannot be approved.',
		'auto-approve': 'Approved automatically by policy.',
		'needs-approval': 'Needs approval before it may run.',
	};
	const CATEGORY_WORDS = {
		'file-read': 'reads files', 'file-write': 'writes files', 'file-delete': 'deletes files',
		'config-change': 'changes configuration', 'credential-access': 'touches credentials or secrets',
		'network-download': 'downloads from the network', 'network-upload': 'sends data out over the network',
		'network-connect': 'connects to another machine', 'network-listen': 'listens for connections',
		'reverse-shell': 'gives a remote party a shell (reverse shell)', 'bind-shell': 'opens a shell to the network (bind shell)',
		'remote-exec': 'runs commands on another machine', 'code-exec': 'runs code given at run time',
		'shell-escape': 'starts a shell whose commands are not reviewed', 'privilege-escalation': 'gains more privileges',
		'persistence': 'makes something survive reboots or logins', 'account-change': 'changes user accounts',
		'permission-change': 'changes permissions or ownership', 'service-change': 'starts, stops or changes services',
		'security-disable': 'weakens or turns off a security control', 'log-tamper': 'hides or destroys logs',
		'destructive': 'destroys data', 'package-install': 'installs software', 'kernel-module': 'loads kernel code',
		'process-kill': 'stops processes', 'obfuscation': 'hides what it really does',
		'display-deception': 'looks different from what runs', 'opaque': 'cannot be checked before it runs',
		'recon': 'gathers information about the system',
	};

	function cmdBytes(c) {
		if (typeof c.text_b64 === 'string') {
			try {
				return b64bytes(c.text_b64);
			} catch (e) {
				/* fall through to the text */
			}
		}
		const t = c.text !== undefined ? c.text : c.command !== undefined ? c.command : (c.analysis || {}).input || '';
		return textBytes(String(t));
	}

	function worstRisk(r) {
		let w = RISKS.includes(r.risk) ? r.risk : 'none';
		for (const c of r.commands || []) {
			const k = (c.analysis || {}).risk;
			if (sevRank(k) > sevRank(w))
				w = k;
		}
		return w;
	}

	/* One command: the text with highlighted spans, then what it does and why it matters. */
	function commandCard(c, i, n) {
		const a = c.analysis || {};
		const bytes = cmdBytes(c);
		const findings = (a.findings || []).slice();
		const marks = [];
		const items = [];
		findings.forEach((f, k) => {
			const fid = 'f-' + i + '-' + k;
			const sp = Array.isArray(f.span) ? f.span : null;
			if (sp && sp.length === 2 && sp[1] > sp[0])
				marks.push({ start: sp[0], end: Math.min(sp[1], bytes.length), severity: f.severity, id: fid,
					title: f.severity + ': ' + f.message });
			const excerpt = sp ? renderBytes(bytes.subarray(Math.max(0, sp[0]), Math.min(bytes.length, sp[1])), []) : null;
			items.push(el('li.finding-item.sev-' + (RISKS.includes(f.severity) ? f.severity : 'medium'), { id: fid, 'data-finding': f.id, 'data-severity': f.severity },
				el('div.finding-head', riskBadge(f.severity), ' ', el('span.category', f.category),
					el('span.rule-id', f.id)),
				el('p.finding-msg', f.message),
				excerpt ? el('p.excerpt', el('span.muted', 'at bytes ' + sp[0] + ' to ' + sp[1] + ': '), excerpt) : null));
		});
		const code = renderBytes(bytes, marks);
		const pre = el('pre.command', { tabindex: '0', 'aria-label': 'Command ' + (i + 1) + ' text' }, code);
		/* pointing at a finding lights up its span in the text and the other way round */
		const light = (fid, on) => {
			for (const m of pre.querySelectorAll('mark.finding'))
				if (m.dataset.findings.split(' ').includes(fid))
					m.classList.toggle('active', on);
		};
		for (const li of items) {
			li.tabIndex = 0;
			li.addEventListener('mouseenter', () => light(li.id, true));
			li.addEventListener('mouseleave', () => light(li.id, false));
			li.addEventListener('focus', () => light(li.id, true));
			li.addEventListener('blur', () => light(li.id, false));
		}
		const cats = a.categories || [];
		const attack = a.attack || [];
		return el('section.cmd-card.risk-edge-' + (RISKS.includes(a.risk) ? a.risk : 'none'), { 'aria-labelledby': 'cmd-h-' + i },
			el('div.cmd-head',
				el('h3', { id: 'cmd-h-' + i }, n > 1 ? 'Command ' + (i + 1) + ' of ' + n : 'Command'),
				riskBadge(a.risk, a.score),
				a.score !== undefined ? el('span.score', 'score ' + a.score + '/100') : null,
				a.opaque ? el('span.flag.opaque', { title: 'what runs cannot be known before it runs' }, 'opaque') : null,
				el('span.bytes.muted', bytes.length + ' bytes'),
				c.sha256 ? el('code.hash', { title: 'SHA-256 of the exact bytes; approvals are bound to it' }, 'sha256 ' + c.sha256.slice(0, 16) + '…') : null),
			pre,
			el('div.explain',
				el('h4', 'What it does'),
				el('p.explanation', a.explanation || 'No explanation.')),
			cats.length || attack.length ? el('div.cats',
				el('h4', 'Categories'),
				el('ul.chips', cats.map((x) => el('li.chip' + (/(reverse|bind)-shell|log-tamper|security-disable|display-deception|obfuscation|privilege-escalation|persistence|credential-access/.test(x) ? '.chip-danger' : ''),
					{ title: CATEGORY_WORDS[x] || null }, x, CATEGORY_WORDS[x] ? el('span.chip-words', ' — ' + CATEGORY_WORDS[x]) : null))),
				attack.length ? el('p.attack', 'MITRE ATT&CK: ', attack.map((t, k) => [k ? ', ' : '', el('code.attack-id', t)])) : null) : null,
			items.length ? el('div.findings',
				el('h4', 'Findings (' + items.length + ')'),
				el('ol.finding-list', items.map((li, k) => [li, k]).sort((x, y) =>
					sevRank(y[0].dataset.severity) - sevRank(x[0].dataset.severity) || x[1] - y[1]).map((x) => x[0]))) :
				el('p.muted', 'lockbox found nothing to flag in this command.'),
			(a.commands || []).length ? el('details.parsed',
				el('summary', 'Parsed programs and effects'),
				el('ul', (a.commands || []).map((p) => el('li',
					el('code', (p.argv || [p.program]).map((w) => JSON.stringify(String(w))).join(' ')),
					(p.effects || []).length ? el('ul.effects', p.effects.map((e) => el('li', e.type + (e.target ? ': ' + e.target : '')))) : null)))) : null);
	}

	function requirement(q) {
		const parts = [];
		if ((q.roles || []).length)
			parts.push('role ' + q.roles.join(' or '));
		if ((q.citizenship || []).length)
			parts.push('citizen of ' + q.citizenship.join(' or '));
		if (q.min_clearance && q.min_clearance !== 'none')
			parts.push('clearance ' + q.min_clearance + ' or higher');
		if ((q.qualifications || []).length)
			parts.push('qualified for ' + q.qualifications.join(', '));
		return (parts.join(', ') || 'anyone') + (q.rule ? ' (rule ' + q.rule + ')' : '');
	}

	function decisionSection(r) {
		const d = r.decision || {};
		const effect = d.effect || 'unknown';
		const reasons = d.reasons || d.matched || [];
		return el('section.card.decision', { 'aria-labelledby': 'dec-h' },
			el('h2#dec-h', 'Policy decision'),
			el('p.effect.effect-' + String(effect).replace(/[^a-z-]/g, ''), el('strong', effect), ' — ', EFFECT_WORDS[effect] || ''),
			d.quorum ? el('p', 'Approvals required: ', el('strong', String(d.quorum))) : null,
			(d.each || []).length ? el('div', el('h4', 'Every approver must have'), el('ul', d.each.map((q) => el('li', requirement(q))))) : null,
			(d.at_least_one || []).length ? el('div', el('h4', 'At least one approver must have'), el('ul', d.at_least_one.map((q) => el('li', requirement(q))))) : null,
			d.distinct_organization ? el('p', 'Approvers must come from different organizations.') : null,
			reasons.length ? el('div', el('h4', 'Rules that matched'),
				el('ol.rules', reasons.map((x) => el('li',
					el('code.rule', x.rule || '?'), x.line ? el('span.muted', ' line ' + x.line) : null,
					x.effect ? [' ', el('span.effect-tag', x.effect)] : null,
					el('div', x.text || x.reason || ''))))) : null);
	}

	return { commandCard, decisionSection, worstRisk, cmdBytes, CATEGORY_WORDS, EFFECT_WORDS };
})();
