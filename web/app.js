// camvault in the browser: hash routes, session state, navigation.
//   #/login  #/cameras  #/camera/<id>  #/homes  #/homes/<id>  #/audit
//   #/integrations  #/account
import { session, loadMe, logout, SESSION_EXPIRED, NEED_LOGIN_FOR_CHANGE } from './api.js';
import { clear, flash } from './ui.js';
import * as loginView from './views/login.js';
import * as camerasView from './views/cameras.js';
import * as cameraView from './views/camera.js';
import * as homesView from './views/homes.js';
import * as auditView from './views/audit.js';
import * as integrationsView from './views/integrations.js';
import * as accountView from './views/account.js';

const routes = [
  [/^\/login$/, loginView, 'login'],
  [/^\/cameras$/, camerasView, 'cameras'],
  [/^\/camera\/([0-9a-f]{32})$/, cameraView, 'cameras'],
  [/^\/homes(?:\/([0-9a-f]{32}))?$/, homesView, 'homes'],
  [/^\/audit$/, auditView, 'audit'],
  [/^\/integrations$/, integrationsView, 'integrations'],
  [/^\/account$/, accountView, 'account'],
];

const main = document.getElementById('main');
let cleanup = null;
let booted = false;
export const app = { returnTo: null, loginNote: null };

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, '')) || '/cameras';
  const [path, q] = raw.split('?');
  return { path, query: new URLSearchParams(q || '') };
}

export function go(hash) {
  if (location.hash === hash) render(); else location.hash = hash;
}

async function render() {
  if (!booted) return;
  const { path, query } = parseHash();
  if (cleanup) { try { cleanup(); } catch (e) { /* best effort */ } cleanup = null; }
  const loggedIn = !!(session.user && session.csrf);
  if (!loggedIn && path !== '/login') {
    app.returnTo = '#' + path + (query.toString() ? '?' + query : '');
    location.replace('#/login');
    return;
  }
  if (loggedIn && path === '/login') { location.replace('#/cameras'); return; }
  const hit = routes.map(([re, view, nav]) => [path.match(re), view, nav]).find(x => x[0]);
  clear(main);
  updateChrome(hit ? hit[2] : null);
  if (!hit) {
    main.append(Object.assign(document.createElement('h1'), { textContent: 'Page not found' }));
    return;
  }
  const [m, view] = hit;
  document.body.dataset.page = hit[2] === 'cameras' && m[1] ? 'camera' : hit[2];
  try {
    cleanup = (await view.render(main, { params: m.slice(1), query, app, go })) || null;
  } catch (e) {
    if (e && e.status === 401) {
      // api() announced it, unless the call was one that does not (loadMe):
      // then announce it here, or the page would stay blank.
      if (session.user) { session.user = null; session.csrf = null; window.dispatchEvent(new CustomEvent(SESSION_EXPIRED)); }
      return;
    }
    main.append(Object.assign(document.createElement('p'), { className: 'form-error', textContent: e.message || String(e) }));
  }
  const h1 = main.querySelector('h1');
  if (h1 && document.activeElement === document.body) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
}

function updateChrome(nav) {
  const bar = document.getElementById('topbar');
  const loggedIn = !!(session.user && session.csrf);
  bar.hidden = !loggedIn;
  if (!loggedIn) return;
  document.getElementById('whoami').textContent = session.user.login + (session.user.admin ? ' (operator)' : '');
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

window.addEventListener('hashchange', render);
window.addEventListener(SESSION_EXPIRED, () => {
  if (!booted) return;
  app.loginNote = 'Your session expired. Please sign in again.';
  flash(app.loginNote, 'error');
  const { path } = parseHash();
  if (path !== '/login') { app.returnTo = location.hash; location.hash = '#/login'; } else render();
});
window.addEventListener(NEED_LOGIN_FOR_CHANGE, () => {
  app.loginNote = 'For your security, sign in again to make changes.';
  app.returnTo = location.hash;
  location.hash = '#/login';
});
document.getElementById('logout').addEventListener('click', async () => {
  await logout().catch(() => {});
  app.loginNote = 'You are logged out.';
  flash('You are logged out.', 'ok');
  location.hash = '#/login';
});

(async function boot() {
  try {
    await loadMe();
    // Without the CSRF token (kept in memory only) the page cannot act for
    // the user; a reload asks for the password again.
    if (!session.csrf) app.loginNote = `Welcome back, ${session.user.login}. Confirm your password to continue.`;
  } catch (e) {
    session.user = null;
  }
  booted = true;
  document.body.dataset.ready = '1';
  render();
})();
