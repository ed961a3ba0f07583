/* login.js — the sign-in form: token plus TOTP → POST /api/v1/login, which sets the
 * HttpOnly session cookie and returns the CSRF token that later writes must carry. */
'use strict';

(() => {
	const { $, api, errorBox, clear, el } = Escort;
	const form = $('#login');
	const msg = $('#msg');

	/* only a page of this console may follow the sign-in */
	function next() {
		const n = Escort.param('next') || '';
		return /^[a-z0-9_-]+\.html(\?[\w=&%.-]*)?$/i.test(n) && !/^login\.html/.test(n) ? n : 'index.html';
	}

	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clear(msg);
		const token = $('#token').value.trim();
		const totp = $('#totp').value.trim();
		if (!token) {
			msg.append(el('p.error', 'Enter your identity token.'));
			$('#token').focus();
			return;
		}
		if (totp && !/^[0-9]{6}$/.test(totp)) {
			msg.append(el('p.error', 'The one-time code is 6 digits.'));
			$('#totp').focus();
			return;
		}
		const body = { token };
		if (totp)
			body.totp = totp;
		const btn = form.querySelector('button[type=submit]');
		btn.disabled = true;
		try {
			const r = await api('POST', '/login', body, { noRedirect: true });
			localStorage.setItem('escort.csrf', (r && r.csrf) || '');
			location.assign(next());
		} catch (e) {
			if (e.status === 401)
				msg.append(el('p.error', 'Sign-in refused: ' + e.message));
			else
				errorBox(msg, e);
			btn.disabled = false;
		}
	});
	$('#token').focus();
})();
