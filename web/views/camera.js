// One camera, live: LL-HLS (hls.js), falling back to MP4 then MJPEG; audio
// toggle, full screen; says clearly when access is revoked or the camera is off.
import { api, mediaToken, forgetTokens, session, loadMe } from '../api.js';
import { h, clear, ago } from '../ui.js';
import { createPlayer } from '../player.js';

const ACCESS_CHECK_MS = 1000;

export async function render(main, { params, query }) {
  const id = params[0];
  let cam;
  try {
    cam = await api('GET', `cameras/${id}`);
  } catch (e) {
    if (e.status === 401) throw e;
    main.append(h('h1', {}, 'Camera'), h('p', { class: 'form-error', id: 'live-message', role: 'alert' },
      e.status === 403 ? "You don't have access to this camera (anymore)." : e.message),
      h('p', {}, h('a', { href: '#/cameras' }, 'Back to cameras')));
    return null;
  }
  const home = session.homes.find(x => x.id === cam.home);
  const video = h('video', { id: 'live-video', playsinline: true, muted: true, autoplay: true,
                             'aria-label': `Live video from ${cam.name}` });
  video.muted = true;
  const mjpeg = h('img', { id: 'live-mjpeg', alt: `Live picture from ${cam.name}`, hidden: true });
  const msg = h('div', { id: 'live-message', class: 'overlay', role: 'status', 'aria-live': 'assertive' }, 'Connecting…');
  const stage = h('div', { id: 'live-stage', class: 'stage', dataset: { state: 'loading', cameraId: id } }, video, mjpeg, msg);
  const audio = h('button', { type: 'button', id: 'live-audio', 'aria-pressed': 'false' }, 'Sound off');
  const full = h('button', { type: 'button', id: 'live-fullscreen' }, 'Full screen');
  const retry = h('button', { type: 'button', id: 'live-retry', hidden: true }, 'Try again');
  const mode = h('span', { id: 'live-mode', class: 'mode' });
  const status = h('span', { id: 'live-status', class: 'camera-status', dataset: { state: cam.online === false ? 'offline' : 'unknown' } },
    cam.online === false ? `Offline since ${ago(cam.last_seen)}` : '');
  const canManage = home && (home.role === 'owner' || home.role === 'member');

  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/cameras' }, '← All cameras')),
    h('div', { class: 'page-head' }, h('h1', {}, cam.name), h('p', { class: 'sub' }, status, ' ', mode,
      home ? ` · ${home.name}` : ' · shared with you')),
    stage,
    h('div', { class: 'controls' }, audio, full, retry,
      canManage ? h('a', { class: 'button', href: `#/homes/${cam.home}?camera=${cam.id}` }, 'Share or manage') : null));

  audio.addEventListener('click', () => {
    video.muted = !video.muted;
    audio.setAttribute('aria-pressed', String(!video.muted));
    audio.textContent = video.muted ? 'Sound off' : 'Sound on';
    if (!video.muted) video.play().catch(() => {});
  });
  full.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else (stage.requestFullscreen ? stage.requestFullscreen() : Promise.reject()).catch(() => {
      if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
    });
  });

  let player = null;
  let checking = false;
  // Can the user still see this camera? (403 = revoked, for a guest or a removed member)
  async function checkAccess() {
    try {
      const c = await api('GET', `cameras/${id}`);
      if (c.online === false) status.dataset.state = 'offline';
      return null;
    } catch (e) {
      if (e.status === 403) {
        // Still in the camera's home? Then the camera itself is gone.
        if (home) {
          try { await loadMe(); } catch (e2) { return null; }
          if (session.homes.some(x => x.id === cam.home)) return { reason: 'removed' };
        }
        return { reason: 'revoked' };
      }
      return null;
    }
  }
  function startPlayer() {
    retry.hidden = true;
    player = createPlayer({
      video, img: mjpeg, prefer: query.get('via') || 'hls', canRefresh: true, checkAccess,
      getUrls: async fresh => {
        try { return (await mediaToken(id, ['live', 'snapshot'], fresh)).urls; } catch (e) {
          if (e.status === 403) { const a = await checkAccess(); const x = new Error(e.message); x.reason = (a && a.reason) || 'revoked'; throw x; }
          throw e;
        }
      },
      onState: s => {
        stage.dataset.state = s.state;
        if (s.reason) stage.dataset.reason = s.reason; else delete stage.dataset.reason;
        msg.textContent = s.message || '';
        msg.hidden = !s.message;
        mode.textContent = s.mode ? ({ hls: 'LL-HLS', mp4: 'MP4', mjpeg: 'MJPEG' })[s.mode] : '';
        stage.dataset.mode = s.mode || '';
        if (s.state === 'playing') { status.dataset.state = 'live'; status.textContent = 'Live'; }
        if (s.state === 'stopped') {
          if (s.reason === 'offline') { status.dataset.state = 'offline'; status.textContent = 'Offline'; }
          const gone = s.reason === 'revoked' || s.reason === 'removed';
          if (gone) { forgetTokens(id); status.dataset.state = 'revoked'; status.textContent = s.reason === 'removed' ? 'Removed' : 'No access'; }
          retry.hidden = gone;
          if (gone) { audio.disabled = true; full.disabled = true; }
        }
      },
    });
  }
  retry.addEventListener('click', () => { if (player) player.destroy(); startPlayer(); });
  startPlayer();

  // Watch the grant too: a revoked guest sees it within a second, whatever
  // the media connection does.
  const timer = setInterval(async () => {
    if (checking || !player || player.state.state === 'stopped') return;
    checking = true;
    try {
      const a = await checkAccess();
      if (a && player.state.state !== 'stopped') player.stop(a.reason);
    } finally { checking = false; }
  }, ACCESS_CHECK_MS);

  return () => { clearInterval(timer); if (player) player.destroy(); if (document.fullscreenElement) document.exitFullscreen().catch(() => {}); };
}
