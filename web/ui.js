// Small DOM helpers. Elements are built with createElement and textContent
// only (never innerHTML with data), so names and logins cannot inject markup.

/** h('button', {class: 'x', onclick: fn, dataset: {id}}, 'text', child, ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

let flashTimer = null;
/** A status message in the page's aria-live region. kind: info|ok|error */
export function flash(msg, kind = 'info', ms = 6000) {
  const el = document.getElementById('flash');
  if (!el) return;
  el.textContent = msg;
  el.dataset.kind = kind;
  el.hidden = !msg;
  clearTimeout(flashTimer);
  if (msg && ms) flashTimer = setTimeout(() => { el.hidden = true; el.textContent = ''; }, ms);
}

export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(ts * 1000);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function ago(ts) {
  if (!ts) return 'never';
  const s = Math.max(0, Math.round(Date.now() / 1000 - ts));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return fmtTime(ts);
}

/** A labelled form field: returns the wrapper; the input is wrapper.input. */
export function field(label, input, hint) {
  const id = input.id || ('f-' + Math.random().toString(36).slice(2, 9));
  input.id = id;
  const hintEl = hint ? h('small', { class: 'hint', id: id + '-hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  const w = h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
  w.input = input;
  return w;
}

/** An error box tied to a form (role=alert so screen readers hear it). */
export function errorBox(id) {
  return h('p', { class: 'form-error', id, role: 'alert', hidden: true });
}

export function showError(box, err) {
  box.textContent = err ? (err.message || String(err)) : '';
  box.hidden = !err;
}

/** A modal confirmation (<dialog>); resolves true when confirmed. */
export function confirmDialog(message, okLabel = 'Confirm', danger = true) {
  return new Promise(resolve => {
    const ok = h('button', { type: 'button', id: 'confirm-ok', class: danger ? 'danger' : 'primary' }, okLabel);
    const cancel = h('button', { type: 'button', id: 'confirm-cancel' }, 'Cancel');
    const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-msg' },
      h('p', { id: 'confirm-msg' }, message), h('div', { class: 'actions' }, cancel, ok));
    const done = v => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', e => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/** Copies text; falls back to selecting it. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    flash('Copied to the clipboard.', 'ok', 3000);
  } catch (e) {
    if (input) { input.focus(); input.select(); }
    flash('Press Ctrl+C (or long-press) to copy the selected text.', 'info', 5000);
  }
}
