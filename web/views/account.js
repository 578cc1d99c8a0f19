// The user's own account: password, one-time codes (TOTP) with a QR code.
import { api, session, loadMe } from '../api.js';
import { h, field, errorBox, showError, flash, copyText } from '../ui.js';
import qrcode from '../vendor/qrcode-generator/dist/qrcode.mjs';

export async function render(main, { go }) {
  await loadMe();
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Account'), h('p', { class: 'sub' }, `Signed in as ${session.user.login}`)));
  main.append(passwordCard(), totpCard(go));
  return null;
}

function passwordCard() {
  const old = h('input', { id: 'pw-old', type: 'password', autocomplete: 'current-password', required: true });
  const nw = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const again = h('input', { id: 'pw-again', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const err = errorBox('pw-error');
  const form = h('form', { id: 'password-form', class: 'card', novalidate: true }, h('h2', {}, 'Change password'),
    field('Current password', old), field('New password', nw, 'At least 8 characters.'), field('New password again', again), err,
    h('button', { type: 'submit', id: 'pw-submit', class: 'primary' }, 'Change password'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    showError(err, null);
    if (nw.value.length < 8) return showError(err, { message: 'The new password needs at least 8 characters.' });
    if (nw.value !== again.value) return showError(err, { message: 'The two new passwords differ.' });
    try {
      await api('POST', 'me/password', { old: old.value, new: nw.value });
      form.reset();
      flash('Your password was changed.', 'ok');
    } catch (e) { showError(err, e); }
  });
  return form;
}

function totpCard(go) {
  const card = h('section', { class: 'card', id: 'totp', 'aria-labelledby': 'h-totp' }, h('h2', { id: 'h-totp' }, 'One-time codes (two-step sign-in)'));
  const err = errorBox('totp-error');
  const code = h('input', { id: 'totp-code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6, required: true });
  if (session.user.totp) {
    card.dataset.state = 'on';
    const form = h('form', { id: 'totp-off-form' }, h('p', {}, 'Two-step sign-in is on: signing in asks for a code from your authenticator app.'),
      field('Current code, to turn it off', code), err, h('button', { type: 'submit', id: 'totp-off', class: 'danger' }, 'Turn off'));
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      try { await api('DELETE', 'me/totp', { code: code.value.trim() }); flash('Two-step sign-in is off.', 'ok'); go(location.hash); }
      catch (e) { showError(err, e.status === 403 || e.status === 400 ? { message: 'That code is wrong or was already used.' } : e); }
    });
    card.append(form);
    return card;
  }
  card.dataset.state = 'off';
  const start = h('button', { type: 'button', id: 'totp-start', class: 'primary' }, 'Set up two-step sign-in');
  const area = h('div', { id: 'totp-enrol', hidden: true });
  card.append(h('p', {}, 'Protect your account with a code from an authenticator app on your phone.'), start, area, err);
  start.addEventListener('click', async () => {
    showError(err, null);
    try {
      const t = await api('POST', 'me/totp');
      const qr = qrcode(0, 'M');
      qr.addData(t.otpauth_uri);
      qr.make();
      const img = h('img', { id: 'totp-qr', src: qr.createDataURL(5, 4), alt: 'QR code to scan with your authenticator app',
                             width: qr.getModuleCount() * 5 + 40, height: qr.getModuleCount() * 5 + 40 });
      const secret = h('input', { id: 'totp-secret', readonly: true, value: t.secret, 'aria-label': 'Secret key' });
      const copy = h('button', { type: 'button' }, 'Copy key');
      copy.addEventListener('click', () => copyText(t.secret, secret));
      const form = h('form', { id: 'totp-confirm-form' }, field('Code shown by the app', code), h('button', { type: 'submit', id: 'totp-confirm', class: 'primary' }, 'Turn on'));
      form.addEventListener('submit', async ev => {
        ev.preventDefault();
        try { await api('POST', 'me/totp/confirm', { code: code.value.trim() }); flash('Two-step sign-in is on.', 'ok'); go(location.hash); }
        catch (e) { showError(err, e.status === 403 || e.status === 400 ? { message: 'That code is wrong. Check the time on your phone and try the next one.' } : e); }
      });
      area.replaceChildren(h('ol', {}, h('li', {}, 'Scan this QR code with an authenticator app (or type the key).'),
        h('li', {}, 'Enter the 6-digit code it shows.')), img, h('div', { class: 'inline' }, secret, copy), form);
      area.hidden = false;
      start.hidden = true;
      code.focus();
    } catch (e) { showError(err, e); }
  });
  return card;
}
