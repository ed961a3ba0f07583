/* sessions.js — the list of escorted interactive sessions (operators see their own):
 * open ones first, each linking to its live page. */
'use strict';

(() => {
	const { $, el, clear, api, stateBadge, fmtTime, errorBox } = Escort;
	const box = $('#sessions');
	const msg = $('#msg');
	const target = $('#filter-target');

	const OPEN = new Set(['active', 'paused']);

	async function load() {
		try {
			const q = target.value.trim() ? '?target=' + encodeURIComponent(target.value.trim()) : '';
			const r = await api('GET', '/sessions' + q);
			const list = (r.sessions || []).slice().sort((a, b) =>
				(OPEN.has(b.state) - OPEN.has(a.state)) || (b.id - a.id));
			clear(box);
			if (!list.length) {
				box.append(el('p.empty', 'No sessions.'));
				return;
			}
			box.append(el('table.sessions',
				el('thead', el('tr', ['Session', 'State', 'Operator', 'Target', 'Ticket', 'Started', 'Ended'].map((h) => el('th', { scope: 'col' }, h)))),
				el('tbody', list.map((s) => el('tr', { 'data-id': s.id },
					el('td', el('a.sesslink', { href: 'session.html?id=' + encodeURIComponent(s.id) }, '#' + s.id)),
					el('td', stateBadge(s.state)),
					el('td', s.operator),
					el('td', s.target),
					el('td', s.ticket || '—'),
					el('td', fmtTime(s.created)),
					el('td', s.ended ? [fmtTime(s.ended), s.end_reason ? el('span.muted', ' (' + s.end_reason + ')') : null] : '—'))))));
		} catch (e) {
			errorBox(box, e);
		}
	}

	Escort.session().then(() => {
		$('#refresh').addEventListener('click', load);
		target.addEventListener('change', load);
		load();
		/* a line of a session is a request: any request event may change the list */
		Escort.live(() => load());
	}).catch((e) => { if (e.status !== 401) errorBox(msg, e); });
})();
