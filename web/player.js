// Live playback for the app and the partner player: LL-HLS with hls.js (served
// from web/node_modules, loaded as a classic script before the modules), else
// native HLS, then progressive MP4 in <video>, then MJPEG in <img>. When the
// stream is refused or ends, it asks the server why (the JSON error of the
// same URL) and says it in words: revoked, camera offline, switched off.

export const REASONS = {
  revoked: 'Access to this camera was revoked.',
  removed: 'This camera was removed from its home.',
  expired: 'This stream link has expired.',
  offline: 'Camera offline.',
  unavailable: 'Stream unavailable: the integration was switched off.',
  unsupported: 'This browser cannot play the live stream.',
  error: 'The live stream stopped. Trying again…',
  failed: 'The live stream could not be played.',
};

/**
 * createPlayer({video, img, getUrls, onState, prefer, partner})
 *  getUrls(fresh) → {hls, mp4, mjpeg} (paths with token); fresh asks for a new token.
 *  onState({state: 'loading'|'playing'|'stopped'|'retrying', reason, message, mode, detail})
 *  partner: a partner-issued URL (no app session): 403 means switched off/removed.
 */
export function createPlayer(opts) {
  const { video, img, getUrls, onState = () => {} } = opts;
  const order = ['hls', 'mp4', 'mjpeg'];
  let modeIdx = Math.max(0, order.indexOf(opts.prefer || 'hls'));
  let hls = null;
  let urls = null;
  let stopped = false;
  let diagnosing = false;
  let lastT = -1, lastAdvance = Date.now(), retries = 0;
  let startedAt = 0;
  const timers = [];
  const state = { state: 'loading', mode: null, reason: null };

  function set(s) {
    Object.assign(state, s);
    onState({ ...state });
  }

  function teardownMedia() {
    if (hls) { try { hls.destroy(); } catch (e) { /* gone */ } hls = null; }
    video.removeAttribute('src');
    try { video.load(); } catch (e) { /* fine */ }
    if (img) { img.removeAttribute('src'); img.hidden = true; }
  }

  async function start(fresh = false) {
    if (stopped) return;
    set({ state: 'loading', reason: null, message: 'Connecting…' });
    try {
      urls = await getUrls(fresh);
    } catch (e) {
      return stop(e.reason || (e.status === 403 ? 'revoked' : 'failed'), e.message);
    }
    if (stopped) return;
    teardownMedia();
    lastT = -1; lastAdvance = Date.now(); startedAt = Date.now();
    const mode = order[modeIdx];
    set({ mode });
    if (mode === 'hls') {
      if (window.Hls && window.Hls.isSupported()) return startHls(urls.hls);
      if (video.canPlayType('application/vnd.apple.mpegurl')) return startSrc(urls.hls);
      return fallback('no MSE');
    }
    if (mode === 'mp4') return startSrc(urls.mp4);
    return startMjpeg(urls.mjpeg);
  }

  function startHls(url) {
    video.hidden = false;
    const Hls = window.Hls;
    hls = new Hls({ lowLatencyMode: true, enableWorker: true, backBufferLength: 10,
                    manifestLoadingMaxRetry: 1, levelLoadingMaxRetry: 2, fragLoadingMaxRetry: 2 });
    let recoveries = 0;
    hls.on(Hls.Events.ERROR, (ev, d) => {
      if (stopped) return;
      const code = d.response && d.response.code;
      // A refused request (4xx) or a dead connection: ask why at once.
      if (code >= 400 || d.fatal || d.type === Hls.ErrorTypes.NETWORK_ERROR) {
        if (d.fatal && d.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries++ < 2) { hls.recoverMediaError(); return; }
        diagnose(url, d.fatal, d.details);
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => { /* autoplay policy: muted below */ });
  }

  function startSrc(url) {
    video.hidden = false;
    video.src = url;
    video.play().catch(() => {});
  }

  function startMjpeg(url) {
    video.hidden = true;
    if (!img) return stop('unsupported');
    img.hidden = false;
    img.onload = () => { if (!stopped) set({ state: 'playing', message: '' }); };
    img.onerror = () => diagnose(url, true, 'mjpeg error');
    img.src = url;
    set({ state: 'playing', message: '' });
  }

  function fallback(why) {
    if (modeIdx + 1 < order.length) {
      modeIdx++;
      start();
    } else {
      stop('failed', null, why);
    }
  }

  // What does the server say about this URL now?
  async function probe(url) {
    try {
      const r = await fetch(url, { cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' } });
      let data = {};
      const ct = r.headers.get('Content-Type') || '';
      if (!r.ok && ct.includes('json')) { try { data = await r.json(); } catch (e) { data = {}; } }
      else { try { await r.body?.cancel(); } catch (e) { /* fine */ } }
      return { status: r.status, error: data.error || '', data, retry: Number(r.headers.get('Retry-After')) || 1 };
    } catch (e) {
      return { status: 0, error: String(e) };
    }
  }

  async function diagnose(url, fatal, detail) {
    if (stopped || diagnosing) return;
    diagnosing = true;
    try {
      // The app can tell "revoked" from "expired" with its session.
      if (opts.checkAccess) {
        const a = await opts.checkAccess();
        if (stopped) return;
        if (a && a.reason) return stop(a.reason, a.message);
      }
      const p = await probe(urls && urls[order[modeIdx]] || url);
      if (stopped) return;
      const e = p.error;
      if (p.status === 503 && /stream unavailable/.test(e)) return stop('unavailable', null, e);
      if (p.status === 503 && /camera offline/.test(e)) return stop('offline', offlineText(p.data), e);
      if (p.status === 401 || p.status === 403) {
        if (opts.partner) {
          if (p.status === 403) return stop('unavailable', 'Stream unavailable: access was switched off.', e);
          return stop('revoked', 'Access to this stream was revoked or has expired.', e);
        }
        if (opts.canRefresh && p.status === 401 && retries++ < 2) { diagnosing = false; return start(true); }
        return stop('revoked', null, e);
      }
      if (p.status === 200 || p.status === 503 || p.status === 0) {
        if (!fatal) return; // hls.js is retrying on its own
        if (retries++ < 4) {
          set({ state: 'retrying', reason: 'error', message: p.status === 503 ? 'Waiting for the camera…' : REASONS.error });
          diagnosing = false;
          setTimeout(() => start(), Math.min(5, p.retry || 1) * 1000);
          return;
        }
        if (p.status === 200) return fallback(detail);
        return stop(p.status === 503 ? 'offline' : 'failed', null, e || detail);
      }
      if (fatal) return fallback(detail);
    } finally {
      diagnosing = false;
    }
  }

  function offlineText(d) {
    if (d && d.last_seen) return `Camera offline since ${new Date(d.last_seen * 1000).toLocaleString()}.`;
    return REASONS.offline;
  }

  function stop(reason, message, detail) {
    if (stopped) return;
    stopped = true;
    for (const t of timers) clearInterval(t);
    teardownMedia();
    set({ state: 'stopped', reason, message: message || REASONS[reason] || REASONS.failed, detail: detail || null });
  }

  // Playing / stalls / ends.
  const onPlaying = () => { if (!stopped) { retries = 0; set({ state: 'playing', reason: null, message: '' }); } };
  const onEnded = () => diagnose(urls && urls[order[modeIdx]], true, 'ended');
  const onError = () => { if (!hls && !stopped && state.mode !== 'mjpeg') diagnose(urls && urls[order[modeIdx]], true, 'video error'); };
  video.addEventListener('playing', onPlaying);
  video.addEventListener('ended', onEnded);
  video.addEventListener('error', onError);
  timers.push(setInterval(() => {
    if (stopped || state.mode === 'mjpeg' || state.state === 'loading' && Date.now() - startedAt < 15000) return;
    const t = video.currentTime;
    if (t !== lastT) { lastT = t; lastAdvance = Date.now(); return; }
    if (!video.paused && Date.now() - lastAdvance > 1500) {
      lastAdvance = Date.now();
      diagnose(urls && urls[order[modeIdx]], false, 'stalled');
    }
  }, 500));

  start();
  return {
    get state() { return { ...state }; },
    destroy() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      video.removeEventListener('playing', onPlaying);
      video.removeEventListener('ended', onEnded);
      video.removeEventListener('error', onError);
      teardownMedia();
    },
    stop,
  };
}
