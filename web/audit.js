/* audit.js — the auditor's page: is the log intact, the latest signed checkpoint, the
 * risk of executed commands over time (an SVG drawn here, no chart library), search, and
 * the retro-hunt (today's analyzer over yesterday's commands). */
'use strict';

(() => {
	const { $, el, clear, api, riskBadge, fmtTime, errorBox, RISKS } = Escort;
	const SVG = 'http://www.w3.org/2000/svg';
	const COLORS = { none: '#94a3b8', low: '#16a34a', medium: '#d97706', high: '#ea580c', critical: '#b91c1c' };

	async function verify() {
		const box = $('#verify');
		try {
			const v = await api('GET', '/audit/verify');
			Escort.add(clear(box), [
				el('p.big-status.' + (v.ok ? 'ok' : 'bad'), { role: 'status' }, v.ok ? '✓ Intact' : '✗ Tampering detected'),
				el('p', (v.size !== undefined ? v.size + ' records checked. ' : ''), v.message || ''),
				v.first_bad ? el('p.bad', 'First bad record: ',
					v.first_bad.seq !== null && v.first_bad.seq !== undefined ? 'seq ' + v.first_bad.seq + ' ' : '',
					v.first_bad.file ? el('code', v.first_bad.file + (v.first_bad.offset !== undefined ? ' at byte ' + v.first_bad.offset : '')) : null) : null,
				v.unsigned_tail ? el('p.muted', v.unsigned_tail + ' newest record(s) not yet covered by a signed checkpoint.') : null]);
		} catch (e) {
			errorBox(box, e);
		}
	}

	async function checkpoint() {
		const box = $('#checkpoint');
		try {
			const c = await api('GET', '/audit/checkpoint');
			const row = (k, v) => [el('dt', k), el('dd', v)];
			clear(box).append(el('dl.meta',
				row('Covers', (c.size !== undefined ? c.size : '?') + ' records'),
				row('Signed at', fmtTime(c.time)),
				row('Root hash', el('code.hash.wrap', c.root || '—')),
				row('Key', el('code.hash', c.key_id || '—')),
				row('Signature', el('code.hash.wrap', c.signature ? String(c.signature).slice(0, 24) + '…' : '—'))));
		} catch (e) {
			if (e.status === 404)
				clear(box).append(el('p.muted', 'No signed checkpoint yet.'));
			else
				errorBox(box, e);
		}
	}

	function svg(tag, attrs) {
		const n = document.createElementNS(SVG, tag);
		for (const [k, v] of Object.entries(attrs || {}))
			n.setAttribute(k, String(v));
		return n;
	}

	/* A stacked bar per time bucket, one colour per risk level, with a data table
	 * beside it for screen readers and for exact numbers. */
	async function chart() {
		const box = $('#chart');
		try {
			const j = await api('GET', '/audit/risk-series?bucket=' + encodeURIComponent($('#bucket').value));
			const raw = (j && j.series) || [];
			clear(box);
			if (!raw.length) {
				box.append(el('p.empty', 'No request yet.'));
				return;
			}
			/* a continuous time axis: the last 24 hours or 30 days, empty buckets included */
			const day = $('#bucket').value === 'day';
			const width = (day ? 86400 : 3600) * 1000;
			const N = day ? 30 : 24;
			const byT = new Map(raw.map((s) => [Math.floor((Escort.parseTime(s.t) || 0) / width), s]));
			const end = Math.max(Math.floor(Date.now() / width), ...byT.keys());
			const series = [];
			for (let b = end - N + 1; b <= end; b++) {
				const s = byT.get(b) || { t: new Date(b * width).toISOString() };
				series.push(s);
			}
			const W = 760, H = 220, L = 40, B = 40, T = 10, R = 10;
			const tot = (s) => RISKS.reduce((a, k) => a + (Number(s[k]) || 0), 0);
			const max = Math.max(4, Math.ceil(Math.max(...series.map(tot)) / 4) * 4);
			const bw = (W - L - R) / series.length;
			const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart',
				'aria-label': 'Requests per ' + $('#bucket').value + ' by risk level, last ' + N + (day ? ' days' : ' hours') });
			for (let k = 0; k <= 4; k++) {
				const y = T + (H - T - B) * (1 - k / 4);
				g.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
				const t = svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' });
				t.textContent = String(max * k / 4);
				g.append(t);
			}
			series.forEach((s, i) => {
				let y = H - B;
				const x = L + i * bw + bw * 0.15;
				for (const k of RISKS) {
					const v = Number(s[k]) || 0;
					if (!v)
						continue;
					const h = (H - T - B) * v / max;
					y -= h;
					const r = svg('rect', { x, y, width: Math.max(1, bw * 0.7), height: h, fill: COLORS[k] });
					const tt = svg('title');
					tt.textContent = fmtTime(s.t) + ': ' + v + ' ' + k;
					r.append(tt);
					g.append(r);
				}
				if (i % (day ? 5 : 3) === 0 || i === series.length - 1) {
					const t = svg('text', { x: L + i * bw + bw / 2, y: H - B + 16, 'text-anchor': 'middle', class: 'axis' });
					const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)/.exec(String(s.t || ''));
					t.textContent = m ? (day ? m[1] : m[2]) : String(s.t || '');
					g.append(t);
				}
			});
			box.append(g,
				el('ul.legend', RISKS.map((k) => el('li', el('span.swatch.risk-' + k, { 'aria-hidden': 'true' }), k))),
				el('details', el('summary', 'Numbers'),
					el('table.data', el('thead', el('tr', el('th', { scope: 'col' }, 'Time'), RISKS.map((k) => el('th', { scope: 'col' }, k)))),
						el('tbody', raw.map((s) => el('tr', el('td', fmtTime(s.t)), RISKS.map((k) => el('td.num', String(Number(s[k]) || 0)))))))));
		} catch (e) {
			errorBox(box, e);
		}
	}

	function summary(ev) {
		const d = ev.details || {};
		const bits = [];
		if (d.request !== undefined)
			bits.push(el('a', { href: 'request.html?id=' + encodeURIComponent(d.request) }, 'request #' + d.request));
		if (d.target)
			bits.push(' on ', el('strong', d.target));
		if (d.risk)
			bits.push(' ', riskBadge(d.risk));
		if (d.state)
			bits.push(' → ', d.state);
		if (d.kind)
			bits.push(' ', d.kind);
		if (d.comment)
			bits.push(': “', d.comment, '”');
		if (Array.isArray(d.commands))
			bits.push(' ', d.commands.map((c, k) => [k ? ' ; ' : '', el('code', typeof c === 'string' ? c : c.command || c.text || '')]));
		return bits;
	}

	async function search(ev) {
		if (ev)
			ev.preventDefault();
		const box = $('#results');
		const q = new URLSearchParams();
		for (const [k, v] of new FormData($('#search')))
			if (String(v).trim())
				q.set(k, String(v).trim());
		try {
			const j = await api('GET', '/audit/search?' + q);
			const evs = (j && j.events) || [];
			clear(box);
			if (!evs.length) {
				box.append(el('p.empty', 'No record matches.'));
				return;
			}
			box.append(el('p.muted', evs.length + ' record(s), oldest first',
				j.truncated ? el('strong', ' — more match: narrow the search or raise the limit') : null),
				el('table.events',
					el('thead', el('tr', ['Seq', 'Time', 'Actor', 'Type', 'What'].map((h) => el('th', { scope: 'col' }, h)))),
					el('tbody', evs.map((e) => el('tr',
						el('td.num', String(e.seq)), el('td.nowrap', fmtTime(e.time)), el('td', e.actor), el('td', el('code', e.type)),
						el('td', summary(e), el('details.raw', el('summary', 'record'), el('pre', JSON.stringify(e, null, 2)))))))));
		} catch (e) {
			errorBox(box, e);
		}
	}

	async function rescan() {
		const box = $('#rescan');
		const btn = $('#rescan-btn');
		btn.disabled = true;
		clear(box).append(el('p.muted', 'Re-scanning…'));
		try {
			const j = await api('GET', '/audit/rescan');
			const ch = Array.isArray(j) ? j : (j && (j.changed || j.results)) || [];
			clear(box);
			box.append(el('p', el('strong', String(ch.length)), ' request(s) rate differently today',
				j.scanned !== undefined ? ' (of ' + j.scanned + ' re-analyzed)' : '', '.'));
			if (ch.length)
				box.append(el('table.events',
					el('thead', el('tr', ['Request', 'Target', 'Then', 'Now', 'Categories', 'Commands'].map((h) => el('th', { scope: 'col' }, h)))),
					el('tbody', ch.map((c) => el('tr',
						el('td', c.request !== undefined ? el('a', { href: 'request.html?id=' + encodeURIComponent(c.request) }, '#' + c.request) : '—'),
						el('td', c.target || '—'),
						el('td', riskBadge(c.old_risk || (c.old || {}).risk)),
						el('td', riskBadge(c.new_risk || c.risk || (c.new || {}).risk), c.worse ? el('strong.bad', ' worse') : null),
						el('td', (c.added || []).map((x) => el('span.chip.chip-danger', '+' + x)), (c.removed || []).map((x) => el('span.chip', '-' + x))),
						el('td', (c.commands || []).map((x) => el('div',
							typeof x === 'object' && typeof (x.command_base64 || x.command_b64) === 'string' && typeof x.command !== 'string' ?
								Escort.renderBytes(Escort.b64bytes(x.command_base64 || x.command_b64), []) :
								el('code', typeof x === 'string' ? x : x.command || x.text || ''),
							x.risk ? [' ', riskBadge(x.risk)] : null))))))));
		} catch (e) {
			if (e.status === 404)
				clear(box).append(el('p.muted', 'This server does not offer the retro-hunt over the API; run ', el('code', 'escort audit rescan'), ' on the server.'));
			else
				errorBox(box, e);
		}
		btn.disabled = false;
	}

	Escort.session().then(() => {
		/* the first search shows the last 24 hours */
		const since = $('#search input[name=since]');
		if (!since.value)
			since.value = new Date(Date.now() - 86400000).toISOString().replace(/\.\d{3}Z$/, 'Z');
		verify();
		checkpoint();
		chart();
		search();
		$('#search').addEventListener('submit', search);
		$('#bucket').addEventListener('change', chart);
		$('#rescan-btn').addEventListener('click', rescan);
	}).catch((e) => { if (e.status !== 401) errorBox($('#results'), e); });
})();
