// Every camera the user may see, with a live-updating snapshot.
import { api, mediaToken, session } from '../api.js';
import { h, clear, ago } from '../ui.js';

const SNAPSHOT_EVERY_MS = 3000;

export function statusOf(cam, offlineSince) {
  if (cam.online === false || offlineSince !== undefined) {
    const since = cam.last_seen || offlineSince;
    return { state: 'offline', text: since ? `Offline since ${ago(since)}` : 'Offline' };
  }
  if (cam.online === true) return { state: 'live', text: 'Live' };
  return { state: 'unknown', text: 'Connecting…' };
}

export async function render(main) {
  const grid = h('ul', { id: 'camera-grid', class: 'camera-grid', 'aria-label': 'Cameras' });
  const empty = h('div', { id: 'camera-empty', class: 'empty', hidden: true });
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Cameras'),
    h('p', { class: 'sub', id: 'camera-count', 'aria-live': 'polite' })), grid, empty);
  let alive = true;
  const cards = new Map(); // id -> {li, img, status, cam, url, offlineSince}
  const homes = new Map(session.homes.map(x => [x.id, x]));

  function card(cam) {
    const img = h('img', { class: 'snapshot', alt: `Latest picture from ${cam.name}`, width: 320, height: 180, hidden: true });
    const ph = h('div', { class: 'snapshot placeholder', 'aria-hidden': 'true' }, '');
    const status = h('span', { class: 'camera-status', dataset: { state: 'unknown' } });
    const badges = h('span', { class: 'badges' });
    const name = h('span', { class: 'camera-name' }, cam.name);
    const home = homes.get(cam.home);
    const li = h('li', { class: 'camera-card', dataset: { cameraId: cam.id } },
      h('a', { href: `#/camera/${cam.id}`, class: 'camera-link', 'aria-describedby': `st-${cam.id}` },
        h('div', { class: 'frame' }, img, ph),
        h('div', { class: 'meta' }, name, h('span', { id: `st-${cam.id}`, class: 'meta-line' }, status, badges),
          home ? h('span', { class: 'home-name' }, home.name) : null)));
    const c = { li, img, ph, status, badges, name, cam, url: null };
    update(c, cam);
    return c;
  }

  function update(c, cam) {
    c.cam = cam;
    c.name.textContent = cam.name;
    const st = statusOf(cam, c.offlineSince);
    c.status.dataset.state = st.state;
    c.status.textContent = st.text;
    clear(c.badges);
    if (cam.shared > 0) c.badges.append(h('span', { class: 'badge badge-shared', title: 'Shared with guests' }, `Shared with ${cam.shared}`));
    const role = cam.role || (homes.get(cam.home) || {}).role;
    if (role === 'guest' || (!homes.has(cam.home) && !session.user.admin)) c.badges.append(h('span', { class: 'badge badge-guest' }, 'Shared with you'));
  }

  async function load() {
    const { cameras } = await api('GET', 'cameras');
    if (!alive) return;
    const seen = new Set();
    for (const cam of cameras) {
      seen.add(cam.id);
      let c = cards.get(cam.id);
      if (!c) { c = card(cam); cards.set(cam.id, c); grid.append(c.li); } else update(c, cam);
    }
    for (const [id, c] of cards) if (!seen.has(id)) { c.li.remove(); if (c.url) URL.revokeObjectURL(c.url); cards.delete(id); }
    document.getElementById('camera-count').textContent = cameras.length === 1 ? '1 camera' : `${cameras.length} cameras`;
    empty.hidden = cameras.length > 0;
    clear(empty).append(h('p', {}, 'No cameras yet.'),
      session.homes.some(x => x.role === 'owner' || x.role === 'member')
        ? h('p', {}, h('a', { href: '#/homes' }, 'Add a camera'), ' to one of your homes.')
        : h('p', {}, 'When someone shares a camera with you, it appears here.'));
  }

  async function snap(c) {
    try {
      const t = await mediaToken(c.cam.id);
      const r = await fetch(t.urls.snapshot, { cache: 'no-store', credentials: 'same-origin' });
      if (!alive) return;
      if (r.ok) {
        const blob = await r.blob();
        const u = URL.createObjectURL(blob);
        c.img.onload = () => { if (c.prev) URL.revokeObjectURL(c.prev); c.prev = null; };
        c.prev = c.url; c.url = u; c.img.src = u;
        c.img.hidden = false; c.ph.hidden = true;
        delete c.offlineSince;
        if (c.cam.online === undefined) { c.status.dataset.state = 'live'; c.status.textContent = 'Live'; }
      } else {
        let d = {};
        try { d = await r.json(); } catch (e) { /* not JSON */ }
        if (r.status === 503 && d.error === 'camera offline') {
          c.offlineSince = d.last_seen || undefined;
          if (c.offlineSince === undefined) c.offlineSince = 0;
          const st = statusOf({ ...c.cam, online: false, last_seen: c.cam.last_seen || d.last_seen });
          c.status.dataset.state = st.state; c.status.textContent = st.text;
          c.li.dataset.offline = '1';
        } else if (r.status === 401 || r.status === 403) {
          await load(); // access may have changed
        }
      }
    } catch (e) {
      if (e.status === 403) await load().catch(() => {});
    }
  }

  await load();
  let i = 0, busy = false;
  const tick = async () => {
    if (!alive || busy) return;
    busy = true;
    try {
      await Promise.all([...cards.values()].map(c => snap(c)));
      if (alive && ++i % 5 === 0) await load().catch(() => {});
    } finally { busy = false; }
  };
  tick();
  const timer = setInterval(tick, SNAPSHOT_EVERY_MS);
  return () => {
    alive = false;
    clearInterval(timer);
    for (const c of cards.values()) { if (c.url) URL.revokeObjectURL(c.url); if (c.prev) URL.revokeObjectURL(c.prev); }
  };
}
