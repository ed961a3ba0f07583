/* policy.js — the policy in force, read-only, and "what would happen if": an identity,
 * a target and a command go to policy explain, and the answer is shown the way the
 * request page shows a real request. */
'use strict';

(() => {
	const { $, el, clear, api, fmtTime, errorBox } = Escort;
	const { commandCard, decisionSection } = EscortRender;

	/* Names for the form's suggestions, read from the YAML text. Only suggestions: the
	 * server decides what is valid. */
	function names(yaml, section) {
		const out = [];
		let inside = false;
		for (const line of String(yaml).split('\n')) {
			if (/^[A-Za-z_]+:/.test(line))
				inside = line.startsWith(section + ':');
			else if (inside) {
				const m = /^ {0,4}- name:\s*["']?([\w.@-]+)/.exec(line);
				if (m)
					out.push(m[1]);
			}
		}
		return out;
	}

	async function load() {
		const meta = $('#meta');
		try {
			const p = await api('GET', '/policy');
			const row = (k, v) => [el('dt', k), el('dd', v)];
			clear(meta).append(el('dl.meta',
				row('Version', String(p.version !== undefined ? p.version : '—')),
				row('SHA-256', el('code.hash.wrap', p.sha256 || '—')),
				row('Loaded', [fmtTime(p.loaded), p.loaded_by ? ' by ' : '', p.loaded_by || ''])));
			const text = String(p.text || '');
			const pre = clear($('#policytext'));
			text.split('\n').forEach((line, i) => {
				pre.append(el('span.line' + (/^\s*#/.test(line) ? '.comment' : ''), el('span.ln', { 'aria-hidden': 'true' }, String(i + 1)), line));
			});
			for (const [sec, list] of [['identities', '#identities'], ['targets', '#targets']])
				clear($(list)).append(...names(text, sec).map((n) => el('option', { value: n })));
		} catch (e) {
			errorBox(meta, e);
		}
	}

	async function explain(ev) {
		ev.preventDefault();
		const box = $('#explained');
		const f = new FormData($('#explain'));
		const body = { identity: String(f.get('identity') || '').trim(), target: String(f.get('target') || '').trim(),
			command: String(f.get('command') || '') };
		clear(box).append(el('p.muted', 'Asking the policy…'));
		try {
			const j = await api('POST', '/policy/explain', body);
			const decision = j.decision || j;
			const analysis = j.lockbox || j.analysis || null;
			clear(box).append(
				el('p.verdict.effect-' + String(decision.effect || '').replace(/[^a-z-]/g, ''),
					el('strong', body.identity), ' running this on ', el('strong', body.target), ': ',
					el('strong', EscortRender.EFFECT_WORDS[decision.effect] || String(decision.effect || '?'))),
				el('div.layout',
					el('div.col-main', analysis ? commandCard({ text: body.command, analysis }, 0, 1) : null),
					el('div.col-side', decisionSection({ decision }))));
		} catch (e) {
			errorBox(box, e);
		}
	}

	Escort.session().then(() => {
		load();
		$('#explain').addEventListener('submit', explain);
	}).catch((e) => { if (e.status !== 401) errorBox($('#meta'), e); });
})();
