/* queue.js — the queue: requests newest first with risk, requester, target, ticket and
 * how long each has waited; refreshed live from the server's event stream. */
'use strict';

(() => {
	const { $, el, clear, api, riskBadge, stateBadge, fmtTime, parseTime, fmtDuration, errorBox } = Escort;
	const box = $('#queue');
	const msg = $('#msg');
	const stateSel = $('#state');
	let fetchedAt = 0;
	let rows = [];

	/* the summary's first command, when the server sends one (preview) or whole commands */
	function firstCommand(r) {
		if (typeof r.preview === 'string')
			return r.preview;
		const d = detailOf(r);
		const list = Array.isArray(r.commands) ? r.commands : d ? d.commands : null;
		const c = list ? list[0] : null;
		if (!c)
			return null;
		const t = typeof c === 'string' ? c : c.text !== undefined && c.text !== null ? c.text : c.command;
		return typeof t === 'string' ? t : null;
	}

	/* Summaries carry no command text: the first rows are completed from the request
	 * objects, fetched a few at a time and kept until the request changes. */
	const details = new Map();
	const DETAIL_ROWS = 40;

	async function enrich() {
		const want = rows.slice(0, DETAIL_ROWS).filter((r) => firstCommand(r) === null &&
			!(details.has(r.id) && details.get(r.id).updated === r.updated));
		let changed = false;
		const one = async (r) => {
			try {
				const d = await api('GET', '/requests/' + encodeURIComponent(r.id));
				details.set(r.id, d);
				changed = true;
			} catch (e) {
				/* the row keeps its summary */
			}
		};
		for (let i = 0; i < want.length; i += 4)
			await Promise.all(want.slice(i, i + 4).map(one));
		if (changed)
			render();
	}

	function detailOf(r) {
		const d = details.get(r.id);
		return d && d.updated === r.updated ? d : null;
	}

	/* the plain words of the riskiest command, for the escort who is no shell expert */
	function explanationOf(r) {
		const d = detailOf(r);
		if (!d)
			return null;
		const a = (d.commands || []).map((c) => c.analysis || {}).sort((x, y) => Escort.sevRank(y.risk) - Escort.sevRank(x.risk))[0];
		const t = a && a.explanation ? String(a.explanation) : '';
		return t.length > 240 ? t.slice(0, 240) + '…' : t;
	}

	function ncommands(r) {
		return Array.isArray(r.commands) ? r.commands.length : Number(r.commands) || 0;
	}

	/* a summary without a risk (older servers): the worst of its commands' analyses */
	function EscortRiskOf(r) {
		let w = 'none';
		for (const c of Array.isArray(r.commands) ? r.commands : [])
			if (c.analysis && Escort.sevRank(c.analysis.risk) > Escort.sevRank(w))
				w = c.analysis.risk;
		return w;
	}

	function waited(r) {
		const created = parseTime(r.created);
		if (typeof r.waiting_s === 'number')
			return r.waiting_s + (Date.now() - fetchedAt) / 1000;
		return created ? (Date.now() - created) / 1000 : 0;
	}

	function render() {
		clear(box);
		if (!rows.length) {
			box.append(el('p.empty', stateSel.value === 'pending' ? 'Nothing is waiting for a decision.' : 'No requests.'));
			return;
		}
		const tbody = el('tbody');
		for (const r of rows) {
			if (!r.risk)
				r.risk = EscortRiskOf(r);
			const cmd = firstCommand(r);
			const short = cmd === null ? null : cmd.length > 90 ? cmd.slice(0, 90) + '…' : cmd;
			const ncmd = ncommands(r);
			tbody.append(el('tr.risk-row-' + (Escort.RISKS.includes(r.risk) ? r.risk : 'none'), { 'data-id': r.id },
				el('td', riskBadge(r.risk)),
				el('td', el('a.reqlink', { href: 'request.html?id=' + encodeURIComponent(r.id) }, '#' + r.id)),
				el('td', short !== null ? [el('code.cmdpreview', short), ncmd > 1 ? el('span.muted', ' +' + (ncmd - 1) + ' more') : null] :
					el('span.muted', ncmd === 1 ? '1 command' : ncmd + ' commands'),
					explanationOf(r) ? el('div.qexplain', explanationOf(r)) : null),
				el('td', r.requester),
				el('td', r.target),
				el('td', r.ticket || '—'),
				el('td', stateBadge(r.state)),
				el('td.waiting', { 'data-created': r.created || '' }, r.state === 'pending' ? fmtDuration(waited(r)) : fmtTime(r.updated || r.created))));
		}
		box.append(el('table.queue',
			el('caption.visually-hidden', 'Requests, newest first'),
			el('thead', el('tr',
				el('th', { scope: 'col' }, 'Risk'), el('th', { scope: 'col' }, 'Request'),
				el('th', { scope: 'col' }, 'Command'), el('th', { scope: 'col' }, 'Requested by'),
				el('th', { scope: 'col' }, 'Target'), el('th', { scope: 'col' }, 'Ticket'),
				el('th', { scope: 'col' }, 'State'),
				el('th', { scope: 'col' }, stateSel.value === 'pending' ? 'Waiting' : 'Updated'))),
			tbody));
	}

	async function load() {
		try {
			const q = new URLSearchParams({ limit: '200' });
			if (stateSel.value)
				q.set('state', stateSel.value);
			const j = await api('GET', '/requests?' + q);
			fetchedAt = Date.now();
			rows = (Array.isArray(j) ? j : j.requests || []).slice();
			rows.sort((a, b) => (parseTime(b.created) || 0) - (parseTime(a.created) || 0) || b.id - a.id);
			clear(msg);
			render();
			enrich();
		} catch (e) {
			errorBox(msg, e);
		}
	}

	let pending = null;
	function soon() {
		if (!pending)
			pending = setTimeout(() => { pending = null; load(); }, 150);
	}

	/* the waiting column ticks without refetching */
	setInterval(() => {
		if (stateSel.value !== 'pending')
			return;
		for (const td of box.querySelectorAll('td.waiting')) {
			const r = rows.find((x) => String(x.id) === td.parentElement.dataset.id);
			if (r)
				td.textContent = fmtDuration(waited(r));
		}
	}, 1000);

	stateSel.addEventListener('change', load);
	Escort.session().then(() => {
		load();
		Escort.live(soon, $('#live'));
	}).catch((e) => { if (e.status !== 401) errorBox(msg, e); });
})();
