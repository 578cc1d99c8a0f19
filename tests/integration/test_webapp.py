"""camvault's web app (web/, served at /app/) in a real browser: headless
Chromium (Debian's /usr/bin/chromium) driven by playwright-core through
tests/browser/webapp.mjs, against a real camvault with real ffmpeg cameras
(pattern.py draws each camera's id into its picture).

Two homes, four users (alice owns home A with front and back, vic is a viewer
in it, bob owns home B with garage, carol owns nothing) and an operator: each sees only their own
cameras; a live view plays (currentTime advances, the picture is not black,
and the camera id read from the page's video matches); alice shares a camera
with carol, carol watches it, alice revokes it and carol's view stops with a
clear message (measured); the kill switch of an integration shows "stream
unavailable" on the partner's player only; login errors; TOTP enrolment with
a QR code, and turning it off; renaming and deleting a camera (a viewer's open
live view says it was removed); a pull camera tested, then added and watched;
the MJPEG fallback; changing the password; the activity filters; the kill
switch per camera model; an expired session; no sideways scrolling at phone
width. Screenshots of the main pages at desktop and phone width go to
docs/screenshots/. Run with -s to see the figures."""
import base64
import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import BUILD, ROOT, SLOW, Server, free_port, wait_for, wait_live
from partner import CallbackServer, Partner, Totp, check_execute, google_execute, request
from pattern import PatternCamera, decode_frame
from test_browser import CHROMIUM, need_browser
from test_pull import start_camera

DRIVER = ROOT / "tests" / "browser" / "webapp.mjs"
# Where the screenshots go: the build's results by default, so a test run
# leaves the tree clean; CAMVAULT_SCREENSHOTS=docs/screenshots refreshes the
# ones the README shows.
SHOTS = Path(os.environ.get("CAMVAULT_SCREENSHOTS") or BUILD / "screenshots")
if not SHOTS.is_absolute():
    SHOTS = ROOT / SHOTS
REVOKE_LIMIT_MS = 2000
VIEWPORTS = {"desktop": (1280, 800), "phone": (375, 740)}


class Browser:
    """webapp.mjs: one JSON command per line in, one JSON answer per line out."""

    def __init__(self):
        self.p = subprocess.Popen(["node", str(DRIVER)], cwd=DRIVER.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin",
                                                    # waits are bounds, not measurements: generous
                                                    "WEBAPP_SLOW": str(3 * SLOW)})
        ready = json.loads(self.p.stdout.readline() or "{}")
        assert ready.get("ready"), f"webapp.mjs did not start: {self.p.stderr.read()[-2000:] if self.p.poll() is not None else ready}"

    def __call__(self, cmd, check=True, **args):
        self.p.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line, f"webapp.mjs died: {self.p.stderr.read()[-3000:]}"
        r = json.loads(line)
        if check:
            assert r["ok"], f"{cmd} {args}: {r.get('error')}"
        return r

    def value(self, cmd, **args):
        return self(cmd, **args).get("value")

    def close(self):
        try:
            self.p.stdin.write('{"cmd":"quit"}\n')
            self.p.stdin.close()
            self.p.wait(timeout=20)
        except Exception:
            self.p.kill()
            self.p.wait()


def need_web_vendor():
    """web/node_modules (hls.js, qrcode-generator) from `npm ci --prefix web`,
    which scripts/deps.sh runs for both README commands: missing, the app
    cannot play, so this fails rather than skips."""
    missing = [m for m in ("hls.js", "qrcode-generator") if not (ROOT / "web" / "node_modules" / m / "package.json").exists()]
    if missing:
        pytest.fail("the web app needs web/node_modules/" + ", ".join(missing) + " (npm ci --prefix web)")


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    need_browser()
    need_web_vendor()
    cb = CallbackServer("/cb").start()
    srv = Server(tmp_path_factory.mktemp("webapp") / "var").start()
    cams, b = [], None
    try:
        pw = {u: srv.add_user(u, f"{u}-password-1", admin=(u == "op")) for u in ("alice", "bob", "carol", "op", "vic")}
        srv.cli("home", "add", "A", "--owner", "alice")
        srv.cli("home", "add", "B", "--owner", "bob")
        srv.cli("home", "member", "add", "A", "vic", "--role", "viewer")

        def camera(name, home, model):
            c = json.loads(srv.cli("camera", "add", "--name", name, "--home", home, "--model", model).stdout)
            cams.append(PatternCamera(c["ingest_url"], c["id"]).start())
            return c["id"]

        ids = {"front": camera("front", "A", "CamPro 2"), "back": camera("back", "A", "CamLite"),
               "garage": camera("garage", "B", "CamPro 2")}
        integ = json.loads(srv.cli("integration", "add", "display", "--redirect-uri", cb.url).stdout)
        base = f"http://127.0.0.1:{srv.http_port()}"
        wait_for(lambda: request("GET", base + "/app/").status == 200, 10, "/app/ to be served")
        for cid in ids.values():
            wait_live(srv, cid, timeout=30)
        b = Browser()

        class W:
            pass
        ns = W()
        ns.srv, ns.cb, ns.base, ns.pw, ns.ids, ns.integ, ns.b = srv, cb, base, pw, ids, integ, b
        ns.app = base + "/app/"
        yield ns
    finally:
        if b:
            b.close()
        for c in cams:
            c.stop()
        srv.stop()
        cb.stop()


def session_of(w, who, viewport="desktop"):
    """A browser context logged in as who (its name: who or who-phone)."""
    name = who if viewport == "desktop" else f"{who}-{viewport}"
    w.b("open", ctx=name, viewport=list(VIEWPORTS[viewport]), mobile=viewport == "phone")
    w.b("goto", ctx=name, url=w.app + "#/login")
    r = w.b("login", ctx=name, login=who, password=w.pw[who])
    assert r["page"] == "cameras", r
    return name


def grid_ids(w, ctx):
    w.b("goto", ctx=ctx, url=w.app + f"#/cameras?fresh={time.monotonic_ns()}")  # a new hash: the grid loads again
    w.b("waitFn", ctx=ctx, expr="document.body.dataset.page === 'cameras' && document.getElementById('camera-count') && "
                               "document.getElementById('camera-count').textContent !== ''")
    return set(w.b.value("eval", ctx=ctx, expr="[...document.querySelectorAll('#camera-grid li.camera-card')].map(x => x.dataset.cameraId)"))


def stage(w, ctx):
    return w.b.value("eval", ctx=ctx, expr="(s => s && {state: s.dataset.state, reason: s.dataset.reason || null, mode: s.dataset.mode, "
                                           "message: document.getElementById('live-message').textContent})(document.getElementById('live-stage'))")


def wait_playing(w, ctx, timeout=30):
    w.b("waitFn", ctx=ctx, timeout=int(timeout * SLOW * 1000),
        expr="(s => s && (s.dataset.state === 'playing' || s.dataset.state === 'stopped'))(document.getElementById('live-stage')) && "
             "document.getElementById('live-video').currentTime > 0.5")
    st = stage(w, ctx)
    assert st["state"] == "playing", st
    return st


def wait_advance(w, ctx, seconds):
    """Two frames of the page's video, currentTime `seconds` apart: waited
    for within a generous bound (a sanitized server on a loaded machine
    plays, but not always at speed). Returns (first, last, advance)."""
    f0 = w.b("frame", ctx=ctx)
    t0 = time.monotonic()
    f1 = f0
    while f1["currentTime"] - f0["currentTime"] < seconds and time.monotonic() - t0 < 20 * SLOW:
        time.sleep(0.2)
        f1 = w.b("frame", ctx=ctx)
    adv = f1["currentTime"] - f0["currentTime"]
    assert adv >= seconds, f"currentTime advanced {adv:.2f}s in {time.monotonic() - t0:.1f}s"
    return f0, f1, adv


def assert_plays(w, ctx, camera_id, seconds=1.0):
    """currentTime advances by `seconds` (waited for, within a generous bound:
    a sanitized server on a loaded machine plays, but not always at speed),
    the picture is not black, and it is camera_id's."""
    f0, f1, adv = wait_advance(w, ctx, seconds)
    assert f1["luma"] > 20, f"picture is black (mean luma {f1['luma']:.1f})"
    seen = set()
    for f in (f0, f1):
        d = decode_frame(base64.b64decode(f["gray"]), f["w"], f["h"])
        if d:
            seen.add(d[0])
    if not seen:  # try a few more frames
        for _ in range(10):
            f = w.b("frame", ctx=ctx)
            d = decode_frame(base64.b64decode(f["gray"]), f["w"], f["h"])
            if d:
                seen.add(d[0])
                break
            time.sleep(0.1)
    assert seen == {camera_id}, f"camera code read from the page: {seen}, expected {camera_id}"
    return adv


def no_page_errors(w, ctx):
    errs = [e for e in w.b.value("errors", ctx=ctx) if "Failed to load resource" not in e]
    assert not errs, errs


def test_each_user_sees_only_their_own_cameras(w):
    a, b_, c = session_of(w, "alice"), session_of(w, "bob"), session_of(w, "carol")
    assert grid_ids(w, a) == {w.ids["front"], w.ids["back"]}
    assert grid_ids(w, b_) == {w.ids["garage"]}
    assert grid_ids(w, c) == set()
    w.b("wait", ctx=c, selector="#camera-empty")
    # Live-updating snapshots: the cards show a picture and "Live".
    w.b("waitFn", ctx=a, timeout=15000, expr="[...document.querySelectorAll('#camera-grid img.snapshot')].every(i => !i.hidden && i.naturalWidth > 0)")
    first = w.b.value("eval", ctx=a, expr="[...document.querySelectorAll('#camera-grid img.snapshot')].map(i => i.src)")
    w.b("waitFn", ctx=a, timeout=10000, expr=f"JSON.stringify([...document.querySelectorAll('#camera-grid img.snapshot')].map(i => i.src)) !== {json.dumps(json.dumps(first))}")
    states = w.b.value("eval", ctx=a, expr="[...document.querySelectorAll('#camera-grid .camera-status')].map(s => s.dataset.state)")
    assert states == ["live", "live"], states
    # Another home's camera is refused by the app too (deep link).
    w.b("goto", ctx=b_, url=w.app + f"#/camera/{w.ids['front']}")
    w.b("waitFn", ctx=b_, expr="document.getElementById('live-message') && /access/.test(document.getElementById('live-message').textContent)")
    for ctx in (a, b_, c):
        no_page_errors(w, ctx)


def test_live_view_plays_the_right_camera(w):
    a = session_of(w, "alice")
    w.b("goto", ctx=a, url=w.app + f"#/camera/{w.ids['front']}")
    st = wait_playing(w, a)
    assert st["mode"] == "hls", st
    adv = assert_plays(w, a, w.ids["front"])
    print(f"\nalice's live view of front: LL-HLS, currentTime +{adv:.2f}s, camera id read from the page matches")
    # The fallbacks: progressive MP4, then MJPEG.
    w.b("goto", ctx=a, url=w.app + f"#/camera/{w.ids['back']}?via=mp4")
    st = wait_playing(w, a)
    assert st["mode"] == "mp4", st
    assert_plays(w, a, w.ids["back"])
    no_page_errors(w, a)


def test_share_with_a_guest_then_revoke_stops_their_view(w):
    a, c = session_of(w, "alice"), session_of(w, "carol")
    home_a = w.b.value("eval", ctx=a, expr="fetch('/api/v1/me').then(r => r.json()).then(m => m.homes.find(h => h.name === 'A').id)")
    w.b("goto", ctx=a, url=w.app + f"#/homes/{home_a}")
    w.b("wait", ctx=a, selector="#share-form")
    w.b("select", ctx=a, selector="#share-camera", value=w.ids["back"])
    w.b("fill", ctx=a, selector="#share-login", value="carol")
    w.b("click", ctx=a, selector="#share-submit")
    w.b("wait", ctx=a, selector=f"#grants tr.grant[data-login='carol'][data-camera-id='{w.ids['back']}']")
    # carol sees it, marked as shared with her; alice's card says it is shared.
    assert grid_ids(w, c) == {w.ids["back"]}
    w.b("wait", ctx=c, selector=f"li.camera-card[data-camera-id='{w.ids['back']}'] .badge-guest")
    w.b("click", ctx=c, selector=f"li.camera-card[data-camera-id='{w.ids['back']}'] a")
    wait_playing(w, c)
    assert_plays(w, c, w.ids["back"])
    # alice revokes it from the list of every grant; carol's view stops.
    w.b("click", ctx=a, selector="#grants tr.grant[data-login='carol'] button[data-action='revoke']")
    r = w.b("clickAndWait", ctx=a, selector="#confirm-ok", waitCtx=c, timeout=10000,
            expr="(s => s.dataset.state === 'stopped' && document.getElementById('live-message').textContent)(document.getElementById('live-stage'))")
    st = stage(w, c)
    print(f"\nrevoke → carol's live view stopped with a message in {r['ms']} ms: {st['message']!r}")
    assert st["reason"] == "revoked" and "revoked" in st["message"], st
    assert r["ms"] <= REVOKE_LIMIT_MS * SLOW, f"the guest's view stopped after {r['ms']} ms"
    w.b("wait", ctx=a, selector="#grants tr.grant[data-login='carol']", state="detached")
    assert grid_ids(w, c) == set()
    no_page_errors(w, a)


def partner_stream_url(w, camera_id):
    """alice links the "display" integration (HTTP consent) and asks for a
    stream with Google EXECUTE; answers the URL's path and query."""
    i = w.integ
    p = Partner(w.base, i["client_id"], i["client_secret"], w.cb.url)
    r = p.login("alice", w.pw["alice"])
    assert r.status == 200, r
    areq = p.authorization_request()
    assert p.get_authorize(areq).status == 200
    doc, redirect = p.http_consent(r.json, areq)
    request("GET", redirect)
    code = w.cb.wait(areq.state)["code"]
    t = p.exchange(code, areq.verifier)
    assert t.status == 200, t
    body = google_execute([camera_id], protocols=["hls"])
    res = check_execute(p.google(t.json["access_token"], body), body)[camera_id]
    url = res["states"]["cameraStreamAccessUrl"]
    from urllib.parse import urlsplit
    u = urlsplit(url)
    return u.path + "?" + u.query


def test_kill_switch_shows_stream_unavailable_to_the_partner_only(w):
    path = partner_stream_url(w, w.ids["front"])
    a = session_of(w, "alice")
    w.b("goto", ctx=a, url=w.app + f"#/camera/{w.ids['front']}")
    wait_playing(w, a)
    w.b("open", ctx="display", viewport=[1280, 720])
    w.b("goto", ctx="display", url=w.app + "play.html#url=" + quote(path, safe=""))
    wait_playing(w, "display")
    assert_plays(w, "display", w.ids["front"])
    t0 = time.monotonic()
    w.srv.cli("integration", "disable", "display")
    try:
        w.b("waitFn", ctx="display", timeout=10000, expr="document.getElementById('live-stage').dataset.state === 'stopped'")
        ms = round((time.monotonic() - t0) * 1000)
        st = stage(w, "display")
        print(f"\nkill switch → the partner's player says {st['message']!r} after {ms} ms")
        assert st["reason"] == "unavailable" and "Stream unavailable" in st["message"], st
        # alice's own view is not a partner's: it keeps playing.
        assert stage(w, a)["state"] == "playing"
        assert_plays(w, a, w.ids["front"])
        # The operator sees the switch in the app.
        op = session_of(w, "op")
        w.b("goto", ctx=op, url=w.app + "#/integrations")
        w.b("wait", ctx=op, selector="#integrations tr.integration[data-integration='display'][data-disabled='1']")
        # alice sees the link and may switch it off herself.
        w.b("goto", ctx=a, url=w.app + "#/integrations")
        w.b("wait", ctx=a, selector="#links li.link[data-integration='display']")
    finally:
        w.srv.cli("integration", "enable", "display")


def test_login_errors_are_the_same_for_unknown_users(w):
    w.b("open", ctx="anon")
    w.b("goto", ctx="anon", url=w.app)
    bad = w.b("login", ctx="anon", login="alice", password="not-her-password")
    unknown = w.b("login", ctx="anon", login="nobody-here", password="not-her-password")
    assert bad["page"] == "login" and bad["errorKind"] == "credentials", bad
    assert bad["error"] == unknown["error"] == "Wrong login or password.", (bad, unknown)


def test_throttled_login_says_when_to_try_again(server, w):
    srv = server(config={"throttle_lockout_ms": "30000"})
    srv.add_user("dave", "dave-password-1")
    app = f"http://127.0.0.1:{srv.http_port()}/app/"
    w.b("open", ctx="dave")
    w.b("goto", ctx="dave", url=app)
    r = None
    for _ in range(12):
        r = w.b("login", ctx="dave", login="dave", password="wrong-password")
        if r["errorKind"] == "throttled":
            break
    assert r["errorKind"] == "throttled" and "Try again in" in r["error"] and "seconds" in r["error"], r
    print(f"\nthrottled: {r['error']!r}")
    w.b("close", ctx="dave")


def test_totp_enrolment_with_a_qr_code_then_login_needs_the_code(w):
    w.srv.add_user("erin", "erin-password-1")
    w.pw["erin"] = "erin-password-1"
    e = session_of(w, "erin")
    w.b("goto", ctx=e, url=w.app + "#/account")
    w.b("click", ctx=e, selector="#totp-start")
    w.b("waitFn", ctx=e, expr="(i => i && i.complete && i.naturalWidth > 100)(document.getElementById('totp-qr'))")
    assert w.b.value("eval", ctx=e, expr="document.getElementById('totp-qr').src.startsWith('data:image/')")
    totp = Totp(w.b.value("eval", ctx=e, expr="document.getElementById('totp-secret').value"))
    w.b("fill", ctx=e, selector="#totp-code", value=totp.next())
    w.b("click", ctx=e, selector="#totp-confirm")
    w.b("wait", ctx=e, selector="#totp[data-state='on']")
    w.b("click", ctx=e, selector="#logout")
    w.b("wait", ctx=e, selector="#login-form")
    r = w.b("login", ctx=e, login="erin", password=w.pw["erin"])
    assert r["page"] == "login" and r["totpAsked"] and r["errorKind"] == "totp", r
    r = w.b("login", ctx=e, login="erin", password=w.pw["erin"], totp=totp.next())
    assert r["page"] == "cameras", r
    no_page_errors(w, e)


def test_owner_adds_a_camera_invites_and_reads_the_audit_log(w):
    a = session_of(w, "alice")
    home_a = w.b.value("eval", ctx=a, expr="fetch('/api/v1/me').then(r => r.json()).then(m => m.homes.find(h => h.name === 'A').id)")
    w.b("goto", ctx=a, url=w.app + f"#/homes/{home_a}")
    w.b("fill", ctx=a, selector="#add-name", value="porch")
    w.b("click", ctx=a, selector="#add-submit")
    w.b("wait", ctx=a, selector="#ingest-url")
    ingest = w.b.value("eval", ctx=a, expr="document.getElementById('ingest-url').value")
    assert ingest.startswith("rtsp://") and "/cam/" in ingest, ingest
    w.b("fill", ctx=a, selector="#invite-login", value="bob")
    w.b("select", ctx=a, selector="#invite-role", value="viewer")
    w.b("click", ctx=a, selector="#invite-submit")
    w.b("wait", ctx=a, selector="#members li.member[data-login='bob']")
    b_ = session_of(w, "bob")
    assert w.ids["front"] in grid_ids(w, b_)
    # The audit log: views of alice's cameras, by whom; filter by camera.
    w.b("goto", ctx=a, url=w.app + f"#/audit?camera={w.ids['front']}")
    w.b("waitFn", ctx=a, expr="document.querySelectorAll('#audit-table tr.audit-row').length > 0")
    cams = set(w.b.value("eval", ctx=a, expr="[...document.querySelectorAll('#audit-table tr.audit-row')].map(r => r.dataset.camera)"))
    assert cams == {w.ids["front"]}, cams
    no_page_errors(w, a)


def test_screenshots_of_the_main_pages(w):
    """login, grid, live view, home management, audit, integrations at 1280x800 and 375x740."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for vp in VIEWPORTS:
        anon = f"shot-{vp}"
        w.b("open", ctx=anon, viewport=list(VIEWPORTS[vp]), mobile=vp == "phone")
        w.b("goto", ctx=anon, url=w.app + "#/login")
        w.b("wait", ctx=anon, selector="#login-form")
        w.b("screenshot", ctx=anon, path=str(SHOTS / f"login-{vp}.png"))
        w.b("close", ctx=anon)
        a = session_of(w, "alice", vp)
        grid_ids(w, a)
        w.b("waitFn", ctx=a, timeout=15000, expr="[...document.querySelectorAll('#camera-grid img.snapshot')].filter(i => !i.hidden).length >= 2")
        w.b("eval", ctx=a, expr="document.getElementById('flash').hidden = true")
        w.b("screenshot", ctx=a, path=str(SHOTS / f"cameras-{vp}.png"))
        w.b("goto", ctx=a, url=w.app + f"#/camera/{w.ids['front']}")
        wait_playing(w, a)
        time.sleep(0.5)
        w.b("screenshot", ctx=a, path=str(SHOTS / f"live-{vp}.png"))
        w.b("goto", ctx=a, url=w.app + "#/homes")
        w.b("wait", ctx=a, selector="#grants")
        w.b("screenshot", ctx=a, path=str(SHOTS / f"home-{vp}.png"))
        w.b("goto", ctx=a, url=w.app + "#/audit")
        w.b("waitFn", ctx=a, expr="document.querySelectorAll('#audit-table tr.audit-row').length > 0")
        w.b("screenshot", ctx=a, path=str(SHOTS / f"audit-{vp}.png"))
        op = session_of(w, "op", vp)
        w.b("goto", ctx=op, url=w.app + "#/integrations")
        w.b("wait", ctx=op, selector="#integrations")
        w.b("eval", ctx=op, expr="document.getElementById('flash').hidden = true")
        w.b("screenshot", ctx=op, path=str(SHOTS / f"integrations-{vp}.png"))
        for ctx in (a, op):
            no_page_errors(w, ctx)
            w.b("close", ctx=ctx)
    total = sum(p.stat().st_size for p in SHOTS.glob("*.png"))
    print(f"\nscreenshots: {len(list(SHOTS.glob('*.png')))} files, {total // 1024} KiB")
    assert total < 2_000_000



def js(v):
    """A Python value as a JavaScript literal."""
    return json.dumps(v)


def app_api(w, ctx, method, path, body=None):
    """The page's own api() (the same module instance, so its CSRF token)."""
    b = "undefined" if body is None else js(body)
    return w.b.value("eval", ctx=ctx, expr=f"import('/app/api.js').then(m => m.api({js(method)}, {js(path)}, {b}))")


def home_of(w, ctx, name):
    return w.b.value("eval", ctx=ctx, expr=f"fetch('/api/v1/me').then(r => r.json()).then(m => m.homes.find(h => h.name === {js(name)}).id)")


def grid_names(w, ctx):
    grid_ids(w, ctx)
    return w.b.value("eval", ctx=ctx, expr="Object.fromEntries([...document.querySelectorAll('#camera-grid li.camera-card')]"
                                           ".map(x => [x.dataset.cameraId, x.querySelector('.camera-name').textContent]))")


def assert_moves(w, ctx, seconds=1.0):
    """currentTime advances by `seconds` (waited for, as in assert_plays) and
    the picture moves (rtsp-camera: GStreamer's white ball on black, which
    draws no camera id)."""
    f0, f1, adv = wait_advance(w, ctx, seconds)
    g0, g1 = base64.b64decode(f0["gray"]), base64.b64decode(f1["gray"])
    assert max(g1) > 150, f"no ball in the picture (brightest pixel {max(g1)})"
    changed = sum(1 for x, y in zip(g0, g1) if abs(x - y) > 40)
    assert changed > 100, f"the picture did not move ({changed} pixels changed)"
    return f1


def test_owner_renames_and_deletes_a_camera_and_a_viewer_is_told(w):
    c = json.loads(w.srv.cli("camera", "add", "--name", "shed", "--home", "A", "--model", "CamLite").stdout)
    cam = PatternCamera(c["ingest_url"], c["id"]).start()
    try:
        wait_live(w.srv, c["id"], timeout=30)
        a, v = session_of(w, "alice"), session_of(w, "vic")
        # vic (a viewer in home A) watches it.
        w.b("goto", ctx=v, url=w.app + f"#/camera/{c['id']}")
        wait_playing(w, v)
        assert_plays(w, v, c["id"], seconds=1.0)
        w.b("goto", ctx=a, url=w.app + f"#/homes/{home_of(w, a, 'A')}")
        row = f"#home-cameras li.manage-camera[data-camera-id='{c['id']}']"
        # A name already used in the home is refused in words, in the row.
        w.b("fill", ctx=a, selector=row + " .rename-input", value="front")
        w.b("click", ctx=a, selector=row + " button[data-action='rename']")
        w.b("wait", ctx=a, selector=row + " .form-error")
        err = w.b.value("text", ctx=a, selector=row + " .form-error")
        assert err and "HTTP" not in err, err
        w.b("fill", ctx=a, selector=row + " .rename-input", value="garden shed")
        w.b("click", ctx=a, selector=row + " button[data-action='rename']")
        w.b("waitFn", ctx=a, expr=f"document.querySelector({js(row + ' .camera-name')}).textContent === 'garden shed' && "
                                  f"document.querySelector({js(row + ' .form-error')}).hidden")
        assert app_api(w, a, "GET", f"cameras/{c['id']}")["name"] == "garden shed"
        assert grid_names(w, v)[c["id"]] == "garden shed"
        # vic watches again; alice deletes the camera: vic's view stops and says why.
        w.b("goto", ctx=v, url=w.app + f"#/camera/{c['id']}")
        wait_playing(w, v)
        w.b("goto", ctx=a, url=w.app + f"#/homes/{home_of(w, a, 'A')}")
        w.b("click", ctx=a, selector=row + " button[data-action='delete']")
        r = w.b("clickAndWait", ctx=a, selector="#confirm-ok", waitCtx=v, timeout=15000,
                expr="document.getElementById('live-stage').dataset.state === 'stopped'")
        st = stage(w, v)
        print(f"\ndelete → vic's live view stopped in {r['ms']} ms: {st['message']!r}")
        assert st["reason"] == "removed" and "removed" in st["message"], st
        assert w.b.value("eval", ctx=v, expr="document.getElementById('live-retry').hidden")
        w.b("wait", ctx=a, selector=row, state="detached")
        assert c["id"] not in grid_ids(w, a) and c["id"] not in grid_ids(w, v)
        for ctx in (a, v):
            no_page_errors(w, ctx)
    finally:
        cam.stop()


def test_pull_camera_test_connection_then_add_and_watch(w, procs):
    _, url = start_camera(procs, free_port(), "--auth", "digest", "--user", "admin", "--pass", "right", "--size", "320x240")
    a = session_of(w, "alice")
    w.b("goto", ctx=a, url=w.app + f"#/homes/{home_of(w, a, 'A')}")
    w.b("click", ctx=a, selector="#add-type-pull")
    w.b("fill", ctx=a, selector="#add-name", value="driveway")

    def test_connection(pull_url):
        w.b("fill", ctx=a, selector="#add-pull-url", value=pull_url)
        w.b("click", ctx=a, selector="#add-test")
        w.b("waitFn", ctx=a, timeout=20000, expr="document.getElementById('add-test-result').dataset.ok !== undefined")
        return (w.b.value("eval", ctx=a, expr="document.getElementById('add-test-result').dataset.ok"),
                w.b.value("text", ctx=a, selector="#add-test-result"))

    ok, text = test_connection(url.replace("rtsp://", "rtsp://admin:Wr0ngPa55@"))
    print(f"\nwrong password: {text!r}")
    assert ok == "0" and "authentication failed" in text and "Wr0ngPa55" not in text, text
    ok, text = test_connection(url.replace("rtsp://", "rtsp://admin:missing@").replace("/stream", "/nothing-here"))
    assert ok == "0" and text.startswith("Could not connect:"), text
    ok, text = test_connection(url.replace("rtsp://", "rtsp://admin:right@"))
    print(f"right URL: {text!r}")
    assert ok == "1" and text.startswith("Connected: H264 320×240"), text
    w.b("click", ctx=a, selector="#add-submit")
    w.b("wait", ctx=a, selector="#add-result a[href^='#/camera/']")
    cid = w.b.value("eval", ctx=a, expr="document.querySelector(\"#add-result a[href^='#/camera/']\").getAttribute('href').split('/').pop()")
    assert grid_names(w, a)[cid] == "driveway"
    # camvault connects to the camera (a pulled camera logs "pulling"; it has no push to wait for).
    wait_for(lambda: w.srv.find(rf"camera {cid} \(driveway\): pulling"), 20, "the pull to start")
    w.b("goto", ctx=a, url=w.app + f"#/camera/{cid}")
    wait_playing(w, a, timeout=45)
    f = assert_moves(w, a)
    assert (f["w"], f["h"]) == (320, 240), f
    no_page_errors(w, a)


def test_mjpeg_fallback_when_hls_and_mp4_fail(w):
    a = session_of(w, "alice")
    # Both video paths fail (the server answers them with an error): the
    # player falls back by itself, HLS → MP4 → MJPEG.
    w.b("route", ctx=a, pattern=r"/cam/[0-9a-f]{32}/(index\.m3u8|live\.mp4)", status=404)
    try:
        w.b("goto", ctx=a, url=w.app + f"#/camera/{w.ids['front']}")
        w.b("waitFn", ctx=a, timeout=30000, expr="(s => s.dataset.mode === 'mjpeg' && s.dataset.state === 'playing')(document.getElementById('live-stage')) "
                                                 "&& document.getElementById('live-mjpeg').naturalWidth > 0")
    finally:
        w.b("unroute", ctx=a)

    def codes():
        seen = []
        deadline = time.monotonic() + 15 * SLOW
        while time.monotonic() < deadline:
            f = w.b("frame", ctx=a, selector="#live-mjpeg")
            d = f.get("gray") and decode_frame(base64.b64decode(f["gray"]), f["w"], f["h"])
            if d:
                seen.append(d)
                if len(seen) >= 2 and seen[-1][1] != seen[0][1]:
                    break
            time.sleep(0.25)
        return seen

    seen = codes()
    assert seen and {d[0] for d in seen} == {w.ids["front"]}, seen
    assert len({d[1] for d in seen}) >= 2, f"the MJPEG picture does not change: {seen}"
    assert w.b.value("eval", ctx=a, expr="document.getElementById('live-video').hidden")
    print(f"\nHLS and MP4 refused → MJPEG, camera id read from the <img>: {seen[0][0][:8]}…, frames {seen[0][1]}→{seen[-1][1]}")
    # The documented way to ask for it directly: #/camera/<id>?via=mjpeg
    w.b("goto", ctx=a, url=w.app + f"#/camera/{w.ids['back']}?via=mjpeg")
    w.b("waitFn", ctx=a, timeout=20000, expr="(s => s.dataset.mode === 'mjpeg' && s.dataset.state === 'playing')(document.getElementById('live-stage')) "
                                             "&& document.getElementById('live-mjpeg').naturalWidth > 0 && document.getElementById('live-mjpeg').src.includes(" + js(w.ids['back']) + ")")
    seen = codes()
    assert seen and {d[0] for d in seen} == {w.ids["back"]}, seen
    no_page_errors(w, a)


def test_change_password(w):
    w.srv.add_user("pat", "pat-password-1")
    w.pw["pat"] = "pat-password-1"
    p = session_of(w, "pat")
    w.b("goto", ctx=p, url=w.app + "#/account")
    w.b("fill", ctx=p, selector="#pw-old", value="not-my-password")
    w.b("fill", ctx=p, selector="#pw-new", value="pat-password-2")
    w.b("fill", ctx=p, selector="#pw-again", value="pat-password-2")
    w.b("click", ctx=p, selector="#pw-submit")
    w.b("wait", ctx=p, selector="#pw-error")
    assert w.b.value("text", ctx=p, selector="#pw-error") == "Your current password is wrong."
    w.b("fill", ctx=p, selector="#pw-old", value="pat-password-1")
    w.b("fill", ctx=p, selector="#pw-again", value="pat-password-3")
    w.b("click", ctx=p, selector="#pw-submit")
    w.b("waitFn", ctx=p, expr="/differ/.test(document.getElementById('pw-error').textContent)")
    w.b("fill", ctx=p, selector="#pw-again", value="pat-password-2")
    w.b("click", ctx=p, selector="#pw-submit")
    w.b("waitFn", ctx=p, expr="document.getElementById('pw-error').hidden && document.getElementById('pw-old').value === '' && "
                              "/password was changed/.test(document.getElementById('flash').textContent)")
    w.b("click", ctx=p, selector="#logout")
    w.b("wait", ctx=p, selector="#login-form")
    r = w.b("login", ctx=p, login="pat", password="pat-password-1")
    assert r["page"] == "login" and r["errorKind"] == "credentials", r
    r = w.b("login", ctx=p, login="pat", password="pat-password-2")
    assert r["page"] == "cameras", r
    w.pw["pat"] = "pat-password-2"
    no_page_errors(w, p)


def test_turning_totp_off_needs_a_current_code(w):
    w.srv.add_user("tina", "tina-password-1")
    w.pw["tina"] = "tina-password-1"
    t = session_of(w, "tina")
    w.b("goto", ctx=t, url=w.app + "#/account")
    w.b("click", ctx=t, selector="#totp-start")
    w.b("wait", ctx=t, selector="#totp-secret")
    totp = Totp(w.b.value("eval", ctx=t, expr="document.getElementById('totp-secret').value"))
    w.b("fill", ctx=t, selector="#totp-code", value=totp.next())
    w.b("click", ctx=t, selector="#totp-confirm")
    w.b("wait", ctx=t, selector="#totp[data-state='on'] #totp-off")
    good = totp.next()
    bad = "%06d" % ((int(good) + 500000) % 1000000)
    w.b("fill", ctx=t, selector="#totp-code", value=bad)
    w.b("click", ctx=t, selector="#totp-off")
    w.b("wait", ctx=t, selector="#totp-error")
    assert "wrong" in w.b.value("text", ctx=t, selector="#totp-error")
    assert w.b.value("eval", ctx=t, expr="document.getElementById('totp').dataset.state") == "on"
    w.b("fill", ctx=t, selector="#totp-code", value=good)
    w.b("click", ctx=t, selector="#totp-off")
    w.b("wait", ctx=t, selector="#totp[data-state='off'] #totp-start")
    w.b("click", ctx=t, selector="#logout")
    w.b("wait", ctx=t, selector="#login-form")
    r = w.b("login", ctx=t, login="tina", password=w.pw["tina"])
    assert r["page"] == "cameras" and not r["totpAsked"], r
    no_page_errors(w, t)


def audit_rows(w, ctx, hash_):
    w.b("goto", ctx=ctx, url=w.app + hash_ + ("&" if "?" in hash_ else "?") + f"fresh={time.monotonic_ns()}")
    w.b("waitFn", ctx=ctx, expr="document.body.dataset.page === 'audit' && document.getElementById('audit-status') && "
                                "!/Loading/.test(document.getElementById('audit-status').textContent) && "
                                "document.getElementById('audit-status').textContent !== ''")
    return w.b.value("eval", ctx=ctx, expr="[...document.querySelectorAll('#audit-table tr.audit-row')].map(r => "
                                           "({event: r.dataset.event, camera: r.dataset.camera, principal: r.dataset.principal}))")


def test_activity_filters_by_person_and_camera(w):
    a, v = session_of(w, "alice"), session_of(w, "vic")
    # vic watches back, then fails a login; gwen, a guest with no role in the home, fails one too.
    w.b("goto", ctx=v, url=w.app + f"#/camera/{w.ids['back']}")
    wait_playing(w, v)
    w.srv.add_user("gwen", "gwen-password-1")
    app_api(w, a, "POST", f"cameras/{w.ids['front']}/grants", {"login": "gwen", "scopes": ["live", "snapshot"], "expires_in": 3600})
    for who in ("vic", "gwen"):
        assert request("POST", w.base + "/api/v1/login", {"login": who, "password": "wrong-password"}).status == 401
    # The filter form: person alone.
    w.b("goto", ctx=a, url=w.app + "#/audit")
    w.b("wait", ctx=a, selector="#audit-filter")
    w.b("fill", ctx=a, selector="#audit-person", value="vic")
    w.b("click", ctx=a, selector="#audit-filter button[type='submit']")
    w.b("waitFn", ctx=a, expr="location.hash === '#/audit?person=vic' && document.querySelectorAll('#audit-table tr.audit-row').length > 0")
    rows = audit_rows(w, a, "#/audit?person=vic")
    assert rows and all(r["principal"].split(" ")[0] == "user:vic" for r in rows), rows
    events = {r["event"] for r in rows}
    assert "login.fail" in events and "view.start" in events, events
    # Camera and person together.
    rows = audit_rows(w, a, f"#/audit?camera={w.ids['back']}&person=vic")
    assert rows and all(r["camera"] == w.ids["back"] and r["principal"].split(" ")[0] == "user:vic" for r in rows), rows
    rows = audit_rows(w, a, f"#/audit?camera={w.ids['front']}&person=vic")
    assert all(r["camera"] == w.ids["front"] and r["principal"].split(" ")[0] == "user:vic" for r in rows), rows
    # A member's failed login is the home's business; a guest's is not (the API
    # answers home= with events on no camera only for the home's members).
    rows = audit_rows(w, a, "#/audit?person=gwen")
    assert all(r["principal"].split(" ")[0] == "user:gwen" for r in rows), rows
    assert "login.fail" not in {r["event"] for r in rows}, rows
    print("\nactivity: person=vic shows only vic's rows (incl. the failed login); a guest's failed login is not shown to the owner")
    for ctx in (a, v):
        no_page_errors(w, ctx)


def test_operator_switches_one_camera_model_off_and_on(w):
    op = session_of(w, "op")
    w.b("goto", ctx=op, url=w.app + "#/integrations")
    row = "#integrations tr.integration[data-integration='display']"
    w.b("fill", ctx=op, selector=row + " input.model-input", value="CamLite")
    w.b("click", ctx=op, selector=row + " button[data-action='disable-model']")
    chip = row + " button.chip[data-model='CamLite']"
    w.b("wait", ctx=op, selector=chip)

    def display():
        return next(i for i in app_api(w, op, "GET", "integrations")["integrations"] if i["name"] == "display")

    try:
        d = display()
        assert d["disabled_models"] == ["CamLite"] and not d["disabled"], d
        assert w.b.value("eval", ctx=op, expr=f"document.querySelector({js(row)}).dataset.disabled") == "0"
        w.b("click", ctx=op, selector=chip)
        w.b("wait", ctx=op, selector=chip, state="detached")
        d = display()
        assert d["disabled_models"] == [] and not d["disabled"], d
    finally:
        w.srv.cli("integration", "enable", "display")
    no_page_errors(w, op)


def test_expired_session_asks_to_log_in_again(w):
    a = session_of(w, "alice")

    def kill_session():
        sid = [c["value"] for c in w.b.value("cookies", ctx=a) if c["name"] == "cv_session"]
        assert sid, w.b.value("cookies", ctx=a)
        r = request("POST", w.base + "/api/v1/logout", headers={"Authorization": "Bearer " + sid[0]})
        assert r.status == 204, r

    def expect_login_note():
        w.b("wait", ctx=a, selector="#login-form")
        w.b("wait", ctx=a, selector="#login-note")
        note = w.b.value("text", ctx=a, selector="#login-note")
        assert "Your session expired" in note and "sign in again" in note, note
        assert w.b.value("eval", ctx=a, expr="document.getElementById('topbar').hidden")

    # Going to another page.
    w.b("goto", ctx=a, url=w.app + "#/account")
    w.b("wait", ctx=a, selector="#password-form")
    kill_session()
    w.b("click", ctx=a, selector="#nav a[data-nav='homes']")
    expect_login_note()
    r = w.b("login", ctx=a, login="alice", password=w.pw["alice"])
    assert r["page"] == "homes", r  # back where she was going
    # A change (POST) on the page she is on.
    w.b("goto", ctx=a, url=w.app + "#/account")
    w.b("wait", ctx=a, selector="#password-form")
    kill_session()
    w.b("fill", ctx=a, selector="#pw-old", value=w.pw["alice"])
    w.b("fill", ctx=a, selector="#pw-new", value="whatever-new-1")
    w.b("fill", ctx=a, selector="#pw-again", value="whatever-new-1")
    w.b("click", ctx=a, selector="#pw-submit")
    expect_login_note()
    r = w.b("login", ctx=a, login="alice", password=w.pw["alice"])  # the password did not change
    assert r["page"] == "account", r
    no_page_errors(w, a)


def test_phone_width_needs_no_sideways_scrolling(w):
    width = VIEWPORTS["phone"][0]
    ready = {"cameras": "#camera-count:not(:empty)", f"camera/{w.ids['front']}": "#live-stage", "homes": "#grants",
             "audit": "#audit-table", "integrations": "#links", "account": "#totp"}
    widths = {}
    for who, pages in (("alice", list(ready)), ("op", ["integrations"])):
        ctx = session_of(w, who, "phone")
        for page in pages:
            w.b("goto", ctx=ctx, url=w.app + "#/" + page)
            w.b("wait", ctx=ctx, selector=ready[page] if page != "integrations" or who != "op" else "#integrations")
            m = w.b.value("eval", ctx=ctx, expr="(n => ({doc: document.documentElement.scrollWidth, nav: n.scrollWidth, navBox: n.clientWidth, "
                                                "links: [...n.querySelectorAll('a')].map(a => a.getBoundingClientRect()).every(r => r.left >= 0 && r.right <= innerWidth && r.width > 0)}))"
                                                "(document.getElementById('nav'))")
            widths[f"{who}:{page.split('/')[0]}"] = m["doc"]
            assert m["doc"] <= width, f"{who} #/{page}: the page is {m['doc']} px wide at {width} px"
            assert m["nav"] <= m["navBox"] and m["links"], f"{who} #/{page}: the main nav scrolls sideways: {m}"
        no_page_errors(w, ctx)
        w.b("close", ctx=ctx)
    print(f"\nat {width} px: scrollWidth per page {widths}")
