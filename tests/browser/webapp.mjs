#!/usr/bin/env node
// Drives camvault's web app (web/, served at /app/) in headless Chromium
// (Debian's /usr/bin/chromium via playwright-core) for
// tests/integration/test_webapp.py. One browser, many isolated contexts (one
// per user: own cookies). It reads one JSON command per line on stdin and
// prints one JSON result line per command on stdout:
//
//   {"cmd":"open","ctx":"alice","viewport":[1280,800]}   new context + page
//   {"cmd":"goto","ctx":"alice","url":"http://127.0.0.1:P/app/#/login"}
//   {"cmd":"login","ctx":"alice","login":"alice","password":"...","totp":"123456"?}
//        → {ok, page, error, errorKind, totpAsked}
//   {"cmd":"fill"|"select","ctx","selector","value"}   {"cmd":"click","ctx","selector"}
//   {"cmd":"wait","ctx","selector","state":"visible","timeout":10000}
//   {"cmd":"waitFn","ctx","expr":"js expression","timeout":10000}  → {value}
//   {"cmd":"eval","ctx","expr":"js expression"}  → {value}
//   {"cmd":"text","ctx","selector"}  → {value}
//   {"cmd":"frame","ctx","selector":"#live-video"}  → {w, h, gray (base64 8-bit luma), currentTime, luma}
//   {"cmd":"clickAndWait","ctx","selector","waitCtx","expr","timeout"} → {ms}: click, then
//        poll expr (every 25 ms) on waitCtx's page; ms from the click to expr true
//   {"cmd":"screenshot","ctx","path","fullPage":false}
//   {"cmd":"cookies","ctx"}  → {value: [{name, value, ...}]} (HttpOnly ones too: the test acts on the session server-side)
//   {"cmd":"route","ctx","pattern":"regex on the URL","status":404}  every matching request of the context
//        gets that status (simulates a failing playback path); {"cmd":"unroute","ctx"} lifts them
//   {"cmd":"errors","ctx"}  → {value: [page errors, console errors, CSP violations]}
//   {"cmd":"close","ctx"}   {"cmd":"quit"}
// Every answer: {id?, ok: true, ...} or {id?, ok: false, error}.
//
// Stable hooks in the app (web/):
//   body[data-ready="1"] once booted; body[data-page] = login|cameras|camera|homes|audit|integrations|account
//   login:   #login-form #login-user #login-password #login-totp #login-submit #login-error[data-kind=credentials|throttled|totp]
//   grid:    #camera-grid > li.camera-card[data-camera-id] .camera-status[data-state=live|offline] .badge-shared .badge-guest
//   live:    #live-stage[data-state=loading|playing|retrying|stopped][data-reason=revoked|removed|offline|unavailable|expired|failed][data-mode=hls|mp4|mjpeg]
//            #live-video #live-mjpeg #live-message #live-audio #live-fullscreen #live-retry  (#/camera/<id>?via=mp4|mjpeg forces a path)
//   nav:     #nav a[data-nav] (wraps at phone width); #flash; #login-note (why the login form is shown)
//   homes:   #home-select #home-cameras li.manage-camera[data-camera-id] .rename-input .camera-name [data-action=rename|delete]
//            #add-camera-form #add-name #add-model #add-type-push #add-type-pull #add-pull-url #add-test #add-test-result #add-submit #ingest-url #ingest-copy
//            #members li.member[data-login] #invite-login #invite-role #invite-submit
//            #share-form #share-camera #share-login #share-until #share-submit
//            #grants tr.grant[data-grant-id][data-login][data-camera-id] button[data-action=revoke]; confirm dialog: #confirm-ok #confirm-cancel
//   audit:   #audit-camera #audit-person #audit-table tr.audit-row[data-event][data-camera][data-principal] #audit-filter
//   integr.: #links li.link[data-integration] button[data-action=unlink]; #integrations tr.integration[data-integration][data-disabled]
//            input.model-input + button[data-action=disable-model]; button.chip[data-action=enable-model][data-model]
//   account: #password-form #pw-old #pw-new #pw-again #pw-submit #pw-error #totp[data-state=on|off] #totp-start #totp-qr #totp-secret
//            #totp-code #totp-confirm #totp-off #totp-error
//   partner player: /app/play.html#url=<encoded /cam/<id>/index.m3u8?token=…> with the same #live-stage/#live-message
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
// Every timeout (given or default) is scaled by WEBAPP_SLOW: they only bound
// how long a wait may take on a loaded or sanitized machine.
const SLOW = Number(process.env.WEBAPP_SLOW || 1) || 1;
const T = (ms) => Math.round(ms * SLOW);
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({
  executablePath: chromiumPath, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
         '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
  timeout: 30000,
});
const ctxs = new Map();

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }
function page(name) {
  const c = ctxs.get(name);
  if (!c) throw new Error(`no context ${name}`);
  return c;
}

async function open(a) {
  if (ctxs.has(a.ctx)) await ctxs.get(a.ctx).context.close();
  const [w, hgt] = a.viewport || [1280, 800];
  const context = await browser.newContext({ viewport: { width: w, height: hgt }, deviceScaleFactor: 1,
                                             isMobile: !!a.mobile, hasTouch: !!a.mobile });
  const p = await context.newPage();
  const c = { context, page: p, errors: [] };
  p.on('pageerror', e => c.errors.push('page: ' + e.message));
  p.on('console', m => { if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) c.errors.push('console: ' + m.text()); });
  ctxs.set(a.ctx, c);
  return {};
}

async function login(a) {
  const p = page(a.ctx).page;
  await p.waitForSelector('#login-form', { timeout: T(15000) });
  await p.fill('#login-user', a.login);
  await p.fill('#login-password', a.password);
  if (a.totp) {
    if (await p.isHidden('#login-totp')) {
      await p.click('#login-submit');
      await p.waitForSelector('#login-totp', { state: 'visible', timeout: T(10000) });
    }
    await p.fill('#login-totp', a.totp);
  }
  await p.click('#login-submit');
  await poll(p, `document.body.dataset.page !== 'login' ||
    (document.getElementById('login-error') && !document.getElementById('login-error').hidden)`, 15000, 50);
  return p.evaluate(() => {
    const e = document.getElementById('login-error');
    const t = document.getElementById('login-totp');
    return { page: document.body.dataset.page, error: e && !e.hidden ? e.textContent : null,
             errorKind: e && !e.hidden ? e.dataset.kind || null : null, totpAsked: !!(t && t.offsetParent) };
  });
}

async function frame(a) {
  const p = page(a.ctx).page;
  return p.evaluate(sel => {
    const v = document.querySelector(sel);
    if (!v) return { missing: true };
    const isVideo = v.tagName === 'VIDEO';
    const w = isVideo ? v.videoWidth : v.naturalWidth, h = isVideo ? v.videoHeight : v.naturalHeight;
    const r = { currentTime: isVideo ? v.currentTime : null, readyState: isVideo ? v.readyState : null, w, h, paused: isVideo ? v.paused : null };
    if (!w || !h) return r;
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0, w, h);
    const px = g.getImageData(0, 0, w, h).data;
    const gray = new Uint8Array(w * h);
    let sum = 0;
    for (let i = 0, j = 0; j < gray.length; i += 4, j++) { const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]; gray[j] = y; sum += y; }
    let bin = '';
    for (let i = 0; i < gray.length; i += 0x8000) bin += String.fromCharCode.apply(null, gray.subarray(i, i + 0x8000));
    r.gray = btoa(bin);
    r.luma = sum / gray.length;
    return r;
  }, a.selector || '#live-video');
}

// Polls a JS expression from here (page.waitForFunction would eval() a string
// inside the page, which the app's Content-Security-Policy rightly forbids).
async function poll(p, expr, timeout, every) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await p.evaluate(expr); } catch (e) { last = undefined; if (Date.now() > end) throw e; }
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${expr} (last: ${JSON.stringify(last)})`);
    await new Promise(r => setTimeout(r, every));
  }
}

const cmds = {
  open,
  login,
  async goto(a) { await page(a.ctx).page.goto(a.url, { timeout: T(15000) }); return {}; },
  async fill(a) { await page(a.ctx).page.fill(a.selector, a.value, { timeout: T(a.timeout || 10000) }); return {}; },
  async select(a) { await page(a.ctx).page.selectOption(a.selector, a.value, { timeout: T(a.timeout || 10000) }); return {}; },
  async click(a) { await page(a.ctx).page.click(a.selector, { timeout: T(a.timeout || 10000) }); return {}; },
  async wait(a) { await page(a.ctx).page.waitForSelector(a.selector, { state: a.state || 'visible', timeout: T(a.timeout || 10000) }); return {}; },
  async waitFn(a) { return { value: await poll(page(a.ctx).page, a.expr, T(a.timeout || 10000), 50) }; },
  async eval(a) { return { value: await page(a.ctx).page.evaluate(a.expr) }; },
  async text(a) { return { value: await page(a.ctx).page.textContent(a.selector, { timeout: T(a.timeout || 10000) }) }; },
  frame,
  async clickAndWait(a) {
    const p = page(a.ctx).page, q = page(a.waitCtx).page;
    await p.waitForSelector(a.selector, { timeout: T(10000) });
    const t0 = Date.now();
    await p.click(a.selector, { timeout: T(10000) });
    const value = await poll(q, a.expr, T(a.timeout || 10000), 25);
    return { ms: Date.now() - t0, value };
  },
  async screenshot(a) {
    mkdirSync(dirname(a.path), { recursive: true });
    await page(a.ctx).page.screenshot({ path: a.path, fullPage: !!a.fullPage, animations: 'disabled' });
    return {};
  },
  async cookies(a) { return { value: await page(a.ctx).context.cookies() }; },
  async route(a) {
    const re = new RegExp(a.pattern);
    await page(a.ctx).context.route(u => re.test(u.href), r => r.fulfill({ status: a.status || 404, contentType: 'application/json',
                                                                        body: JSON.stringify({ error: 'blocked by the test' }) }));
    return {};
  },
  async unroute(a) { await page(a.ctx).context.unrouteAll({ behavior: 'ignoreErrors' }); return {}; },
  async errors(a) { const c = page(a.ctx); const v = c.errors; c.errors = []; return { value: v }; },
  async close(a) { const c = ctxs.get(a.ctx); if (c) { ctxs.delete(a.ctx); await c.context.close(); } return {}; },
};

const rl = createInterface({ input: process.stdin });
out({ ok: true, ready: true, version: browser.version() });
for await (const line of rl) {
  if (!line.trim()) continue;
  let a;
  try { a = JSON.parse(line); } catch (e) { out({ ok: false, error: 'bad JSON: ' + e.message }); continue; }
  if (a.cmd === 'quit') break;
  const f = cmds[a.cmd];
  if (!f) { out({ id: a.id, ok: false, error: `unknown command ${a.cmd}` }); continue; }
  try {
    out({ id: a.id, ok: true, ...(await f(a)) });
  } catch (e) {
    out({ id: a.id, ok: false, error: String(e && e.message || e).split('\n').slice(0, 4).join(' | ') });
  }
}
await browser.close().catch(() => {});
process.exit(0);
