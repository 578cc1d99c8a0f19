// Who did what: views (who watched which camera, when, from where, through
// which integration), failed logins, grants and revocations.
import { api, session } from '../api.js';
import { h, clear, field, fmtTime } from '../ui.js';

const EVENTS = {
  'view.stop': 'Stopped watching', 'view.revoked': 'Was cut off (access revoked)', 'link.add': 'Linked a partner',
  'link.revoke': 'Unlinked a partner', 'link.stream': 'Partner asked for a stream', 'publish.start': 'Camera came online',
  'publish.stop': 'Camera went offline', 'camera.rotate': 'Rotated a camera secret', 'home.add': 'Created a home',
  'totp.enable': 'Turned on two-step sign-in', 'totp.disable': 'Turned off two-step sign-in', 'totp.fail': 'Wrong one-time code',
  'totp.enrol': 'Started two-step sign-in setup', 'user.password': 'Changed password', 'user.password.fail': 'Wrong current password',
  'login.ok': 'Signed in', 'login.fail': 'Failed sign-in', 'login.throttled': 'Sign-in blocked (too many attempts)',
  'logout': 'Signed out', 'grant.add': 'Shared a camera', 'grant.create': 'Shared a camera', 'grant.remove': 'Revoked a share', 'grant.revoke': 'Revoked a share',
  'view.start': 'Started watching', 'view.end': 'Stopped watching', 'view.denied': 'Was refused a view',
  'token.issue': 'Got a viewing link', 'token.revoke': 'Revoked a viewing link',
  'camera.add': 'Added a camera', 'camera.remove': 'Deleted a camera', 'camera.rename': 'Renamed a camera',
  'member.add': 'Added a member', 'member.remove': 'Removed a member', 'member.role': 'Changed a role',
  'integration.disable': 'Switched an integration off', 'integration.enable': 'Switched an integration on',
  'link.add': 'Linked a partner', 'link.remove': 'Unlinked a partner',
};

function describe(ev) {
  return EVENTS[ev.event] || ev.event.replace(/[._]/g, ' ');
}
function who(p) {
  if (!p) return '—';
  const via = p.match(/^user:(\S+) via (.+)$/);
  if (via) return `${via[1]} via ${via[2].replace(/^integration:/, '')}`;
  const [kind, name] = p.includes(':') ? [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)] : ['', p];
  if (kind === 'user') return name;
  if (p === 'cli') return 'the operator (command line)';
  if (kind === 'camera') return 'the camera';
  if (kind === 'cli') return 'the operator (command line)';
  if (kind === 'integration' || kind === 'link' || kind === 'partner') return `${name} (integration)`;
  return p;
}

export async function render(main, { query, go }) {
  const { cameras } = await api('GET', 'cameras');
  const owned = new Set(session.homes.filter(x => x.role === 'owner').map(x => x.id));
  const mine = session.user.admin ? cameras : cameras.filter(c => owned.has(c.home));
  const names = new Map(cameras.map(c => [c.id, c.name]));
  const camSel = h('select', { id: 'audit-camera' }, h('option', { value: '' }, 'All cameras'),
    mine.map(c => h('option', { value: c.id, selected: c.id === query.get('camera') }, c.name)));
  const person = h('input', { id: 'audit-person', value: query.get('person') || '', autocapitalize: 'none', spellcheck: 'false', placeholder: 'login' });
  const form = h('form', { id: 'audit-filter', class: 'filters' }, field('Camera', camSel), field('Person', person),
    h('button', { type: 'submit' }, 'Filter'));
  const status = h('p', { id: 'audit-status', role: 'status', 'aria-live': 'polite' });
  const body = h('tbody');
  const table = h('table', { id: 'audit-table', class: 'grid-table' }, h('caption', { class: 'visually-hidden' }, 'Activity'),
    h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'Camera', 'From', 'Via'].map(t => h('th', { scope: 'col' }, t)))), body);
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Activity'),
    h('p', { class: 'sub' }, 'Who watched which camera and when, failed sign-ins, and every share given or taken back.')),
    form, status, h('div', { class: 'table-wrap' }, table));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (camSel.value) q.set('camera', camSel.value);
    if (person.value.trim()) q.set('person', person.value.trim());
    go('#/audit' + (q.toString() ? '?' + q : ''));
  });

  const camera = query.get('camera');
  const who_ = (query.get('person') || '').trim().toLowerCase();
  if (!mine.length && !session.user.admin) {
    status.textContent = 'The activity of a home is visible to its owners. You own no home with cameras.';
    return null;
  }
  status.textContent = 'Loading…';
  const q = p => Object.entries(p).filter(([, v]) => v).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  let events = [];
  const fetchAll = async params => {
    const out = [];
    let after = 0;
    for (let i = 0; i < 5; i++) {
      const r = await api('GET', 'audit?' + q({ ...params, after, limit: 1000 }));
      out.push(...r.events);
      if (r.events.length < 1000) break;
      after = r.next;
    }
    return out;
  };
  try {
    if (camera || session.user.admin) events = await fetchAll({ camera, person: who_ });
    else {
      // Every home the user owns (home= if the server has it, else camera by camera).
      try {
        events = (await Promise.all([...owned].map(home => fetchAll({ home, person: who_ })))).flat();
      } catch (e) {
        if (e.status === 401) throw e;
        events = (await Promise.all(mine.map(c => fetchAll({ camera: c.id })))).flat();
      }
    }
  } catch (e) {
    if (e.status === 401) throw e;
    status.textContent = e.message;
    return null;
  }
  const seen = new Set();
  events = events.filter(e => !seen.has(e.seq) && seen.add(e.seq));
  if (who_) events = events.filter(e => (e.principal || '').toLowerCase().includes(who_) || (e.detail || '').toLowerCase().includes(who_));
  events.sort((a, b) => b.seq - a.seq);
  clear(body);
  for (const e of events.slice(0, 500)) {
    const bad = /fail|denied|throttl|refused/.test(e.event);
    body.append(h('tr', { class: 'audit-row' + (bad ? ' bad' : ''), dataset: { event: e.event, camera: e.camera || '', principal: e.principal || '' } },
      h('td', {}, h('time', { datetime: new Date(e.ts * 1000).toISOString() }, fmtTime(e.ts))),
      h('td', {}, who(e.principal)), h('td', { title: e.detail || '' }, describe(e), e.detail ? h('small', { class: 'detail' }, ' ' + e.detail) : null),
      h('td', {}, e.camera ? (names.get(e.camera) || e.camera.slice(0, 8)) : '—'),
      h('td', {}, e.address || '—'), h('td', {}, e.protocol || '—')));
  }
  status.textContent = events.length ? `${events.length} event${events.length === 1 ? '' : 's'}` : 'No activity matches.';
  return null;
}
