/* session-replay.js — plays DATA/sessions/ID.cast (GET /api/v1/sessions/ID/recording)
 * with the vendored asciinema-player, idle time capped at 2 s, at the chosen speed. */
'use strict';

(() => {
	const { $, el, clear, api, errorBox } = Escort;
	const id = Escort.param('id');
	const box = $('#player');
	const msg = $('#msg');
	let player = null;

	function start(speed) {
		if (player)
			player.dispose();
		clear(box);
		player = AsciinemaPlayer.create('/api/v1/sessions/' + encodeURIComponent(id) + '/recording', box,
			{ fit: 'width', idleTimeLimit: 2, speed, preload: true });
	}

	Escort.session().then(async () => {
		if (!id || !/^[0-9]+$/.test(id)) {
			msg.append(el('p.error', 'No session number given.'));
			return;
		}
		$('#back').setAttribute('href', 'session.html?id=' + encodeURIComponent(id));
		$('#replay-h').textContent = 'Replay of session #' + id;
		document.title = 'Replay of session #' + id + ' · escort';
		try {
			/* the detail says whether it exists and may be seen; the recording needs full view */
			const s = await api('GET', '/sessions/' + encodeURIComponent(id));
			if (s.output_redacted) {
				msg.append(el('p.error', 'The recording holds the full output: escorts, reviewers, auditors and admins may replay it.'));
				return;
			}
		} catch (e) {
			errorBox(msg, e);
			return;
		}
		if (typeof AsciinemaPlayer === 'undefined') {
			msg.append(el('p.error', 'The player did not load.'));
			return;
		}
		start(1);
		$('#speed').addEventListener('change', (ev) => start(Number(ev.target.value) || 1));
	}).catch((e) => { if (e.status !== 401) errorBox(msg, e); });
})();
