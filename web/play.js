// A bare player for a stream URL handed out to a partner (a smart display or a
// Cast receiver holding a URL from camvault's fulfillment), with the same
// clear messages as the app.  /app/play.html#url=<encoded URL>[&via=mp4|mjpeg]
// Only the URL's path and query are used: the page plays from its own origin.
import { createPlayer } from './player.js';

const p = new URLSearchParams(location.hash.replace(/^#/, ''));
const stage = document.getElementById('live-stage');
const msg = document.getElementById('live-message');
const video = document.getElementById('live-video');
video.muted = true;

function local(u) {
  const x = new URL(u, location.href);
  return x.pathname + x.search;
}

function derive(u) {
  // /cam/<id>/index.m3u8?token=… → the same token on live.mp4 and live.mjpeg.
  const x = new URL(u, location.href);
  const base = x.pathname.replace(/\/[^/]*$/, '/');
  return { hls: base + 'index.m3u8' + x.search, mp4: base + 'live.mp4' + x.search, mjpeg: base + 'live.mjpeg' + x.search, [kind(x.pathname)]: local(u) };
}
function kind(path) { return /\.mp4$/.test(path) ? 'mp4' : /\.mjpeg$/.test(path) ? 'mjpeg' : 'hls'; }

const url = p.get('url');
if (!url) {
  stage.dataset.state = 'stopped';
  msg.textContent = 'No stream URL given.';
} else {
  const urls = derive(url);
  const start = () => createPlayer({
    video, img: document.getElementById('live-mjpeg'), partner: true,
    prefer: p.get('via') || kind(new URL(url, location.href).pathname),
    getUrls: async () => urls,
    onState: s => {
      stage.dataset.state = s.state;
      if (s.reason) stage.dataset.reason = s.reason; else delete stage.dataset.reason;
      stage.dataset.mode = s.mode || '';
      msg.textContent = s.message || '';
      msg.hidden = !s.message;
    },
  });
  if (document.readyState === 'complete') start(); else window.addEventListener('load', start);
}
