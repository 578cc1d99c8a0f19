"""camvault's web app (web/, served at /app/) in a real browser: headless
Chromium (Debian's /usr/bin/chromium) driven by playwright-core through
tests/browser/webapp.mjs, against a real camvault with real ffmpeg cameras
(pattern.py draws each camera's id into its picture).

Two homes, three users (alice owns home A with front and back, bob owns home B
with garage, carol owns nothing) and an operator: each sees only their own
cameras; a live view plays (currentTime advances, the picture is not black,
and the camera id read from the page's video matches); alice shares a camera
with carol, carol watches it, alice revokes it and carol's view stops with a
clear message (measured); the kill switch of an integration shows "stream
unavailable" on the partner's player only; login errors; TOTP enrolment with
a QR code. Screenshots of the main pages at desktop and phone width go to
docs/screenshots/. Run with -s to see the figures."""
import base64
import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import BUILD, ROOT, SLOW, Server, wait_for, wait_live
from partner import CallbackServer, Partner, Totp, check_execute, google_execute, request
from pattern import PatternCamera, decode_frame
from test_browser import CHROMIUM, need_browser

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
    """web/node_modules (hls.js, qrcode-generator) from `npm ci --prefix web`."""
    missing = [m for m in ("hls.js", "qrcode-generator") if not (ROOT / "web" / "node_modules" / m / "package.json").exists()]
    if missing:
        msg = "the web app needs web/node_modules/" + ", ".join(missing) + " (npm ci --prefix web)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    need_browser()
    need_web_vendor()
    cb = CallbackServer("/cb").start()
    srv = Server(tmp_path_factory.mktemp("webapp") / "var").start()
    cams, b = [], None
    try:
        pw = {u: srv.add_user(u, f"{u}-password-1", admin=(u == "op")) for u in ("alice", "bob", "carol", "op")}
        srv.cli("home", "add", "A", "--owner", "alice")
        srv.cli("home", "add", "B", "--owner", "bob")

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


def assert_plays(w, ctx, camera_id, seconds=2.0):
    """currentTime advances, the picture is not black, and it is camera_id's."""
    f0 = w.b("frame", ctx=ctx)
    time.sleep(seconds)
    f1 = w.b("frame", ctx=ctx)
    adv = f1["currentTime"] - f0["currentTime"]
    assert adv >= seconds * 0.5, f"currentTime advanced {adv:.2f}s in {seconds}s"
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
    print(f"\nalice's live view of front: LL-HLS, currentTime +{adv:.2f}s in 2 s, camera id read from the page matches")
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
