// Plays the user in camvault's account-linking consent page (OAuth 2.0
// authorization endpoint, RFC 6749 §4.1.1) in headless Chromium driven by
// playwright-core: opens the partner's authorize URL, logs in (password, then
// the one-time code when the page asks for it), checks the partner's name and
// that the cameras listed are exactly the expected set, clicks Allow (or
// Deny) and waits for the browser to land on the partner's redirect_uri.
//
//   node link-consent.mjs --url AUTHORIZE_URL --login L --password P
//        [--totp CODE | --totp-secret BASE32] [--expect-camera HEX]... [--expect-partner NAME]
//        [--deny] [--timeout 60] [--chromium /usr/bin/chromium]
//
// Prints one JSON line {ok, partner, cameras, homes, redirect, error?, failures, errors}
// and exits 0 when ok, 1 otherwise (2 on bad usage).
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function usage(msg) {
  if (msg) process.stderr.write(`link-consent: ${msg}\n`);
  process.stderr.write('usage: node link-consent.mjs --url URL --login L --password P [--totp CODE | --totp-secret B32] ' +
                       '[--expect-camera HEX]... [--expect-partner NAME] [--deny] [--timeout 60] [--chromium PATH]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { expect: [], deny: false, timeout: 60, chromium: process.env.CHROMIUM || '/usr/bin/chromium',
              totp: null, totpSecret: null, partner: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--url') o.url = next();
    else if (a === '--login') o.login = next();
    else if (a === '--password') o.password = next();
    else if (a === '--totp') o.totp = next();
    else if (a === '--totp-secret') o.totpSecret = next();
    else if (a === '--expect-camera') o.expect.push(next().toLowerCase());
    else if (a === '--expect-partner') o.partner = next();
    else if (a === '--deny') o.deny = true;
    else if (a === '--timeout') o.timeout = Number(next());
    else if (a === '--chromium') o.chromium = next();
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!o.url || !o.login || o.password === undefined) usage('--url, --login and --password are required');
  if (!(o.timeout > 0)) usage('--timeout must be > 0');
  for (const c of o.expect) if (!/^[0-9a-f]{32}$/.test(c)) usage('--expect-camera must be 32 hex digits');
  return o;
}

// RFC 6238 (HMAC-SHA1, 30 s, 6 digits) from a base32 secret (RFC 4648).
function totpNow(secretB32, t = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretB32.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error('bad base32 in --totp-secret');
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const opts = parseArgs(process.argv.slice(2));
const started = Date.now();
const result = { ok: false, partner: null, cameras: [], homes: [], redirect: null, failures: [], errors: [] };
let done = false;
let context = null;
let profile = null;

function finish(code) {
  if (done) return;
  done = true;
  result.elapsed_s = Math.round((Date.now() - started) / 100) / 10;
  process.stdout.write(JSON.stringify(result) + '\n');
  const cleanup = async () => {
    try { if (context) await context.close(); } catch (e) { /* gone */ }
    try { if (profile) rmSync(profile, { recursive: true, force: true }); } catch (e) { /* best effort */ }
  };
  const hard = setTimeout(() => process.exit(code), 10000);
  hard.unref();
  cleanup().finally(() => process.exit(code));
}

const watchdog = setTimeout(() => { result.failures.push(`timed out after ${opts.timeout}s`); finish(1); },
                            opts.timeout * 1000);
watchdog.unref();

async function visible(page, sel) {
  try { return await page.locator(sel).isVisible(); } catch (e) { return false; }
}

// Waits until one of the selectors is visible; returns it.
async function oneOf(page, sels, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    for (const s of sels) if (await visible(page, s)) return s;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`none of ${sels.join(', ')} became visible within ${ms} ms`);
}

async function main() {
  let target;
  try { target = new URL(opts.url); } catch (e) { usage(`bad --url: ${e.message}`); }
  const redirectUri = target.searchParams.get('redirect_uri');
  const state = target.searchParams.get('state');
  if (!redirectUri) usage('the authorize URL has no redirect_uri');
  const { chromium } = await import('playwright-core');
  profile = mkdtempSync(join(tmpdir(), 'camvault-consent-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    ignoreHTTPSErrors: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    timeout: Math.min(30000, opts.timeout * 1000),
    viewport: { width: 900, height: 800 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', e => result.errors.push('page: ' + e.message));
  page.on('console', m => { if (m.type() === 'error') result.errors.push('console: ' + m.text()); });
  const step = Math.max(5000, opts.timeout * 1000 / 4);

  const resp = await page.goto(opts.url, { timeout: step });
  if (!resp || resp.status() !== 200) throw new Error(`authorize page answered ${resp && resp.status()}`);

  let shown = await oneOf(page, ['#login-form', '#consent', '#consent-error'], step);
  if (shown === '#consent-error') throw new Error('consent error: ' + await page.locator('#consent-error').innerText());
  if (shown === '#login-form') {
    await page.fill('#login', opts.login);
    await page.fill('#password', opts.password);
    if (await visible(page, '#totp-row')) await page.fill('#totp', opts.totp || totpNow(opts.totpSecret || ''));
    await page.click('#login-submit');
    shown = await oneOf(page, ['#consent', '#totp-row', '#login-error'], step);
    if (shown !== '#consent' && await visible(page, '#totp-row')) {
      if (!opts.totp && !opts.totpSecret) throw new Error('the page asks for a one-time code; none given');
      result.totpAsked = true;
      await page.fill('#totp', opts.totp || totpNow(opts.totpSecret));
      await page.click('#login-submit');
      shown = await oneOf(page, ['#consent', '#consent-error'], step).catch(async e => {
        const err = await visible(page, '#login-error') ? await page.locator('#login-error').innerText() : '';
        throw new Error(`after the one-time code: ${e.message} ${err}`);
      });
    } else if (shown === '#login-error') {
      throw new Error('login refused: ' + await page.locator('#login-error').innerText());
    }
    if (shown === '#consent-error') throw new Error('consent error: ' + await page.locator('#consent-error').innerText());
  }

  // The consent screen: who asks, and every camera it will reach.
  await page.waitForFunction(() => document.querySelectorAll('#homes [data-camera-id]').length > 0 ||
                                   (document.getElementById('homes') && document.getElementById('homes').innerText.length),
                             null, { timeout: step }).catch(() => {});
  result.partner = (await page.locator('#partner').innerText()).trim();
  result.cameras = await page.$$eval('#homes li[data-camera-id]', els => els.map(e => e.getAttribute('data-camera-id')));
  result.homes = await page.$$eval('#homes [data-home-id]', els => els.map(e => ({
    id: e.getAttribute('data-home-id'),
    cameras: [...e.querySelectorAll('li[data-camera-id]')].map(l => l.getAttribute('data-camera-id')),
  })));
  if (opts.partner !== null && result.partner !== opts.partner) {
    result.failures.push(`partner shown is ${JSON.stringify(result.partner)}, not ${JSON.stringify(opts.partner)}`);
  }
  const got = [...result.cameras].sort();
  const want = [...new Set(opts.expect)].sort();
  if (got.length !== new Set(got).size) result.failures.push('a camera is listed twice');
  if (JSON.stringify([...new Set(got)]) !== JSON.stringify(want)) {
    result.failures.push(`cameras listed ${JSON.stringify(got)} are not ${JSON.stringify(want)}`);
  }
  if (result.failures.length) { // never consent to a set we did not expect
    finish(1);
    return;
  }

  const landed = page.waitForURL(u => u.href.startsWith(redirectUri + '?') || u.href === redirectUri, { timeout: step });
  await page.click(opts.deny ? '#deny' : '#allow');
  await landed;
  result.redirect = page.url();
  const q = new URL(result.redirect).searchParams;
  if (q.get('state') !== state) result.failures.push('the redirect does not carry our state');
  if (q.get('error')) result.error = q.get('error');
  if (opts.deny) {
    if (q.get('error') !== 'access_denied') result.failures.push(`deny gave error=${q.get('error')}`);
    if (q.get('code')) result.failures.push('deny gave a code');
  } else if (!q.get('code')) {
    result.failures.push(`allow gave no code (error=${q.get('error')})`);
  }
  result.ok = result.failures.length === 0;
  finish(result.ok ? 0 : 1);
}

main().catch(e => {
  result.failures.push(e && e.message ? e.message.split('\n')[0] : String(e));
  finish(1);
});
