#!/usr/bin/env node
// Plays an HLS URL with hls.js in headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core) and tells whether a person would see the camera.
//
//   node play-hls.mjs --url URL [--seconds 10] [--expect-camera HEX] [--min-advance 3]
//                     [--timeout 60] [--no-low-latency] [--screenshot out.png]
//
// The harness page and hls.js are served by request interception at
// <origin of URL>/__harness/*, so the page has the HLS server's origin and
// needs no CORS. It waits until video.currentTime has advanced by
// --min-advance seconds (then watches on until --seconds after playback
// started), draws frames to a canvas, checks they are not black and, with
// --expect-camera, reads the picture code of tests/integration/pattern.py
// (ported below) and checks the camera id. Latency is wall clock at the
// drawn frame minus the frame's capture time (same machine clock), median.
//
// Prints one JSON line:
//   {ok, currentTime, advanced, meanLuma, camera, latency_ms, decoded, samples, errors, ...}
// and exits 0 when ok, 1 otherwise (2 on bad usage).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const o = { seconds: 10, minAdvance: 3, timeout: 60, lowLatency: true, expectCamera: null, screenshot: null,
              chromium: process.env.CHROMIUM || '/usr/bin/chromium', minLuma: 20 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--url') o.url = next();
    else if (a === '--seconds') o.seconds = Number(next());
    else if (a === '--min-advance') o.minAdvance = Number(next());
    else if (a === '--timeout') o.timeout = Number(next());
    else if (a === '--expect-camera') o.expectCamera = next().toLowerCase();
    else if (a === '--screenshot') o.screenshot = next();
    else if (a === '--chromium') o.chromium = next();
    else if (a === '--min-luma') o.minLuma = Number(next());
    else if (a === '--no-low-latency') o.lowLatency = false;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!o.url) usage('--url is required');
  if (!(o.seconds > 0 && o.minAdvance > 0 && o.timeout > 0)) usage('--seconds, --min-advance and --timeout must be > 0');
  if (o.expectCamera && !/^[0-9a-f]{32}$/.test(o.expectCamera)) usage('--expect-camera must be 32 hex digits');
  o.seconds = Math.max(o.seconds, o.minAdvance);
  return o;
}

function usage(msg) {
  if (msg) process.stderr.write(`play-hls: ${msg}\n`);
  process.stderr.write('usage: node play-hls.mjs --url URL [--seconds 10] [--expect-camera HEX] [--min-advance 3] ' +
                       '[--timeout 60] [--no-low-latency] [--screenshot out.png] [--chromium PATH]\n');
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const started = Date.now();
const result = { ok: false, url: opts.url, currentTime: 0, advanced: 0, meanLuma: null, camera: null, latency_ms: null,
                 decoded: 0, samples: 0, errors: [] };
let done = false;
let browserContext = null;
let profile = null;

function finish(code) {
  if (done) return;
  done = true;
  result.elapsed_s = Math.round((Date.now() - started) / 100) / 10;
  process.stdout.write(JSON.stringify(result) + '\n');
  const cleanup = async () => {
    try { if (browserContext) await browserContext.close(); } catch (e) { /* already gone */ }
    try { if (profile) rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
  };
  const hard = setTimeout(() => process.exit(code), 10000);
  hard.unref();
  cleanup().finally(() => process.exit(code));
}

// The whole run is bounded: past the timeout, report what we have and go.
const watchdog = setTimeout(() => {
  result.errors.push(`harness: timed out after ${opts.timeout}s`);
  finish(1);
}, opts.timeout * 1000);
watchdog.unref();

// The picture code's mask, as pattern.py computes it.
const MASK = [...createHash('sha256').update('camvault-pattern-v1').digest()];

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>camvault hls harness</title>
<script src="/__harness/hls.js"></script></head>
<body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline style="width:640px"></video>
<canvas id="c" style="display:none"></canvas>
<script>
'use strict';
const COLS = 22, ROWS = 16, PAYLOAD_BYTES = 28, CODE_BITS = (PAYLOAD_BYTES + 4) * 8;
const MASK = ${JSON.stringify(MASK)};
const fixedWhite = (r, c) => (r + c) % 2 === 1;
const RING = [], INTERIOR = [];
for (let r = 0; r < ROWS; r++) for (let c = 0; c < COLS; c++) {
  if (r === 0 || r === ROWS - 1 || c === 0 || c === COLS - 1) RING.push([r, c]);
}
for (let r = 1; r < ROWS - 1; r++) for (let c = 1; c < COLS - 1; c++) INTERIOR.push([r, c]);
const DATA = INTERIOR.slice(0, CODE_BITS);
const FIXED = RING.concat(INTERIOR.slice(CODE_BITS)).map(([r, c]) => [r, c, fixedWhite(r, c)]);
const CRC_TABLE = (() => { const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; }
  return t; })();
function crc32(bytes) { let c = 0xFFFFFFFF; for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >>> 8); return (c ^ 0xFFFFFFFF) >>> 0; }

// decode_frame of pattern.py on RGBA pixels (luma from RGB).
function decodeFrame(rgba, width, height) {
  if (width < COLS || height < ROWS) return null;
  const cw = width / COLS, ch = height / ROWS;
  const level = (r, c) => {
    const cx = (c + 0.5) * cw, cy = (r + 0.5) * ch;
    let s = 0;
    for (const dy of [-0.2, 0, 0.2]) for (const dx of [-0.2, 0, 0.2]) {
      const x = Math.min(width - 1, Math.max(0, Math.trunc(cx + dx * cw)));
      const y = Math.min(height - 1, Math.max(0, Math.trunc(cy + dy * ch)));
      const p = (y * width + x) * 4;
      s += 0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2];
    }
    return s / 9;
  };
  const blacks = [], whites = [];
  for (const [r, c, w] of FIXED) (w ? whites : blacks).push(level(r, c));
  const mean = a => a.reduce((x, y) => x + y, 0) / a.length;
  const lo = mean(blacks), hi = mean(whites);
  if (hi - lo < 48) return null;
  const thr = (lo + hi) / 2;
  const wrong = blacks.filter(v => v >= thr).length + whites.filter(v => v < thr).length;
  if (wrong > Math.floor(FIXED.length / 10)) return null;
  const code = new Uint8Array(CODE_BITS / 8);
  DATA.forEach(([r, c], i) => { if (level(r, c) >= thr) code[i >> 3] |= 0x80 >> (i & 7); });
  for (let i = 0; i < code.length; i++) code[i] ^= MASK[i];
  const payload = code.subarray(0, PAYLOAD_BYTES);
  const dv = new DataView(code.buffer);
  if (crc32(payload) !== dv.getUint32(PAYLOAD_BYTES)) return null;
  const camera = Array.from(payload.subarray(0, 16), b => b.toString(16).padStart(2, '0')).join('');
  return { camera, seq: dv.getUint32(16), wall_us: Number(dv.getBigUint64(20)) };
}

const video = document.getElementById('v');
const canvas = document.getElementById('c');
const ctx = canvas.getContext('2d', { willReadFrequently: true });
const state = window.__harness = { errors: [], samples: [], events: [], native: false, hlsVersion: null, firstPlaying: null };

function sample() {
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h || video.readyState < 2) return;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.drawImage(video, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h).data;
  const now_us = Math.round((performance.timeOrigin + performance.now()) * 1000);
  let sum = 0, n = 0;
  for (let p = 0; p < px.length; p += 4 * 7) { sum += 0.299 * px[p] + 0.587 * px[p + 1] + 0.114 * px[p + 2]; n++; }
  const d = decodeFrame(px, w, h);
  if (state.samples.length < 2000) {
    state.samples.push({ now_us, t: video.currentTime, luma: sum / n, w, h,
                         camera: d && d.camera, seq: d && d.seq, wall_us: d && d.wall_us });
  }
}

let lastSample = 0;
function onFrame() {
  const t = performance.now();
  if (t - lastSample >= 90) { lastSample = t; try { sample(); } catch (e) { state.errors.push('sample: ' + e); } }
  video.requestVideoFrameCallback(onFrame);
}
if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) video.requestVideoFrameCallback(onFrame);
setInterval(() => { if (performance.now() - lastSample > 400) { lastSample = performance.now(); try { sample(); } catch (e) { state.errors.push('sample: ' + e); } } }, 250);
video.addEventListener('playing', () => { if (state.firstPlaying === null) state.firstPlaying = video.currentTime; });
video.addEventListener('error', () => state.errors.push('video: ' + (video.error && video.error.message || video.error && video.error.code)));

window.startHarness = (url, lowLatency) => {
  if (window.Hls && Hls.isSupported()) {
    state.hlsVersion = Hls.version;
    const hls = window.__hls = new Hls({ lowLatencyMode: lowLatency, enableWorker: true, backBufferLength: 30 });
    let mediaRecoveries = 0;
    hls.on(Hls.Events.ERROR, (ev, d) => {
      state.errors.push('hls: ' + d.type + '/' + d.details + (d.fatal ? ' (fatal)' : '') +
                        (d.response && d.response.code ? ' http ' + d.response.code : ''));
      if (!d.fatal) return;
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 2) hls.recoverMediaError();
      else state.fatal = d.details;
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (ev, d) => state.events.push('manifest: ' + d.levels.length + ' level(s)'));
    hls.on(Hls.Events.LEVEL_LOADED, (ev, d) => { state.live = d.details.live; state.lowLatency = !!d.details.partList; });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    state.native = true;
    video.src = url;
  } else {
    state.fatal = 'neither MSE (hls.js) nor native HLS in this browser';
  }
  video.play().catch(e => state.errors.push('play: ' + e));
};
</script></body></html>`;

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  let target;
  try { target = new URL(opts.url); } catch (e) { usage(`bad --url: ${e.message}`); }
  const origin = target.origin;
  const hlsJs = readFileSync(join(here, 'node_modules', 'hls.js', 'dist', 'hls.min.js'));
  const { chromium } = await import('playwright-core');

  profile = mkdtempSync(join(tmpdir(), 'camvault-chromium-'));
  browserContext = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
    timeout: Math.min(30000, opts.timeout * 1000),
    viewport: { width: 800, height: 600 },
  });
  const page = browserContext.pages()[0] || await browserContext.newPage();
  page.on('pageerror', e => result.errors.push('page: ' + e.message));
  page.on('console', m => { if (m.type() === 'error') result.errors.push('console: ' + m.text()); });
  page.on('requestfailed', r => {
    const f = r.failure();
    // Aborted requests are normal in hls.js (it cancels loads it no longer needs).
    if (f && !/ERR_ABORTED/.test(f.errorText)) result.errors.push(`request: ${r.url()} ${f.errorText}`);
  });
  await page.route(`${origin}/__harness/**`, route => {
    const u = new URL(route.request().url());
    if (u.pathname === '/__harness/index.html') return route.fulfill({ status: 200, contentType: 'text/html', body: PAGE });
    if (u.pathname === '/__harness/hls.js') return route.fulfill({ status: 200, contentType: 'text/javascript', body: hlsJs });
    return route.fulfill({ status: 404, body: 'not a harness file' });
  });
  await page.goto(`${origin}/__harness/index.html`, { timeout: 15000 });
  await page.evaluate(([u, ll]) => window.startHarness(u, ll), [opts.url, opts.lowLatency]);

  // Watch: until currentTime has advanced by minAdvance since the first frame
  // played and `seconds` have passed since then, or a fatal error.
  const deadline = started + opts.timeout * 1000 - 3000;
  let playingSince = null;
  let startTime = null;
  let st = null;
  while (Date.now() < deadline) {
    st = await page.evaluate(() => {
      const v = document.getElementById('v');
      const h = window.__harness;
      return { currentTime: v.currentTime, paused: v.paused, readyState: v.readyState, fatal: h.fatal || null,
               firstPlaying: h.firstPlaying, n: h.samples.length };
    });
    result.currentTime = st.currentTime;
    if (st.fatal) break;
    if (startTime === null && st.firstPlaying !== null && st.currentTime > st.firstPlaying) {
      startTime = st.firstPlaying;
      playingSince = Date.now();
    }
    if (startTime !== null) {
      result.advanced = st.currentTime - startTime;
      if (result.advanced >= opts.minAdvance && Date.now() - playingSince >= opts.seconds * 1000) break;
    }
    await new Promise(r => setTimeout(r, 200));
  }
  const h = await page.evaluate(() => {
    const s = window.__harness;
    return { errors: s.errors, samples: s.samples, events: s.events, native: s.native, hlsVersion: s.hlsVersion,
             fatal: s.fatal || null, live: s.live, lowLatency: s.lowLatency };
  });
  if (opts.screenshot) await page.screenshot({ path: opts.screenshot });

  result.errors.push(...h.errors);
  if (h.fatal) result.errors.push('fatal: ' + h.fatal);
  result.hlsVersion = h.hlsVersion;
  result.native = h.native;
  result.live = h.live;
  result.lowLatency = h.lowLatency;
  result.events = h.events;
  const played = h.samples.filter(s => startTime !== null && s.t > startTime);
  result.samples = played.length;
  if (played.length) {
    result.meanLuma = Math.round(median(played.map(s => s.luma)) * 10) / 10;
    result.size = `${played[played.length - 1].w}x${played[played.length - 1].h}`;
  }
  const decoded = played.filter(s => s.camera);
  result.decoded = decoded.length;
  const cameras = [...new Set(decoded.map(s => s.camera))];
  result.camera = cameras.length === 1 ? cameras[0] : (cameras.length ? cameras : null);
  if (decoded.length) {
    result.latency_ms = Math.round(median(decoded.map(s => (s.now_us - s.wall_us) / 1000)));
    result.latency_ms_min = Math.round(Math.min(...decoded.map(s => (s.now_us - s.wall_us) / 1000)));
    result.latency_ms_max = Math.round(Math.max(...decoded.map(s => (s.now_us - s.wall_us) / 1000)));
    result.seq_first = decoded[0].seq;
    result.seq_last = decoded[decoded.length - 1].seq;
  }

  const why = [];
  if (startTime === null) why.push('video never started playing');
  else if (result.advanced < opts.minAdvance) why.push(`currentTime advanced only ${result.advanced.toFixed(2)}s`);
  if (result.meanLuma === null || result.meanLuma <= opts.minLuma) why.push(`picture is black (mean luma ${result.meanLuma})`);
  if (opts.expectCamera) {
    if (!decoded.length) why.push('no frame carried a readable camera code');
    else if (cameras.length !== 1 || cameras[0] !== opts.expectCamera) why.push(`camera ${JSON.stringify(result.camera)} is not ${opts.expectCamera}`);
  }
  result.failures = why;
  result.ok = why.length === 0;
  finish(result.ok ? 0 : 1);
}

main().catch(e => {
  result.errors.push('harness: ' + (e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e)));
  finish(1);
});
