// Sign in: login + password, then the one-time code when the account has one.
import { login, session } from '../api.js';
import { h, field, errorBox, showError, flash } from '../ui.js';

export async function render(main, { app }) {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true,
                            autocapitalize: 'none', spellcheck: 'false', value: session.user ? session.user.login : '' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { id: 'login-totp', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code',
                            pattern: '[0-9]{6}', maxlength: '6' });
  const totpField = field('One-time code', totp, 'The 6-digit code from your authenticator app.');
  totpField.hidden = true;
  const err = errorBox('login-error');
  const submit = h('button', { type: 'submit', id: 'login-submit', class: 'primary' }, 'Sign in');
  const note = app.loginNote ? h('p', { class: 'note', id: 'login-note' }, app.loginNote) : null;
  app.loginNote = null;
  let countdown = null;

  const form = h('form', { id: 'login-form', class: 'card narrow', novalidate: true },
    h('h1', {}, 'Sign in to camvault'), note,
    field('Login', user), field('Password', pass), totpField, err, submit);

  function throttle(n) {
    clearInterval(countdown);
    let left = n;
    submit.disabled = true;
    const tick = () => {
      if (left <= 0) { clearInterval(countdown); submit.disabled = false; showError(err, null); return; }
      showError(err, { message: `Too many failed attempts. Try again in ${left} seconds.` });
      err.dataset.kind = 'throttled';
      left--;
    };
    tick();
    countdown = setInterval(tick, 1000);
  }

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    showError(err, null);
    delete err.dataset.kind;
    if (!user.value || !pass.value) { showError(err, { message: 'Enter your login and password.' }); return; }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await login(user.value.trim(), pass.value, totpField.hidden ? undefined : totp.value.trim());
      pass.value = '';
      flash(`Signed in as ${session.user.login}.`, 'ok', 3000);
      const to = app.returnTo && !/login/.test(app.returnTo) ? app.returnTo : '#/cameras';
      app.returnTo = null;
      location.hash = to;
    } catch (e) {
      submit.textContent = 'Sign in';
      submit.disabled = false;
      if (e.data && e.data.totp_required) {
        const wasHidden = totpField.hidden;
        totpField.hidden = false;
        totp.required = true;
        if (wasHidden) { showError(err, { message: 'Enter the 6-digit code from your authenticator app.' }); err.dataset.kind = 'totp'; totp.focus(); }
        else { showError(err, { message: 'That code is wrong or was already used. Wait for the next one and try again.' }); err.dataset.kind = 'totp'; totp.select(); }
        return;
      }
      if (e.status === 429) { throttle(e.data.retry_after || 30); return; }
      err.dataset.kind = e.status === 401 ? 'credentials' : 'error';
      showError(err, e);
      pass.select();
    }
  });

  main.append(h('section', { class: 'login-wrap' }, form,
    h('p', { class: 'fineprint' }, 'Your session is kept in a secure, HttpOnly cookie. Nothing secret is stored in this browser.')));
  (user.value ? pass : user).focus();
  return () => clearInterval(countdown);
}
