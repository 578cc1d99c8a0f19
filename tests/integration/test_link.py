"""Partner account linking and camera-stream fulfillment, end to end: a
conformance client (partner.py) plays the partner platform from the protocol
documents (OAuth 2.0 + PKCE S256, RFC 7009, Google smart home CameraStream,
Alexa CameraStreamController) against the real camvault, with real pattern
cameras that draw their own id into the picture and real players (ffmpeg over
HTTPS and RTSPS, headless Chromium for the consent page).

One server for the module: home A of alice (TOTP on) with two cameras of two
models, home B of bob with one camera. Every stream a partner gets is checked
to show the camera it asked for; every refusal is checked to change nothing;
the kill switch and unlinking are measured on live streams (run with -s to see
the figures)."""
import http.client
import json
import re
import threading
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from conftest import SLOW, Server, wait_for, wait_live
from partner import (CallbackServer, Partner, Totp, alexa_discover, alexa_initialize, check_alexa_error,
                     check_authorize_error_page, check_authorize_redirect_error, check_code_redirect,
                     check_discover, check_execute, check_google_error, check_initialize, check_oauth_error,
                     check_query, check_stream_result, check_sync, check_token_response, consent_cameras,
                     google_disconnect, google_execute, google_query, google_sync, insecure_tls,
                     playwright_consent, query_of, request)
from pattern import PatternCamera, decode_jpeg, decode_stream, random_camera_id

MODEL_PRO, MODEL_LITE = "CamPro 2", "CamLite"
END_LIMIT_S = 1.0  # every partner stream ends within this after unlink / kill switch


def api_request(w, method, path, session=None, body=None):
    h = {}
    if session:
        h["Cookie"] = "cv_session=" + session["session"]
        if method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = session["csrf"]
    return request(method, f"{w.base}/api/v1/{path}", body, headers=h)


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    cb = CallbackServer("/cb").start()
    srv = Server(tmp_path_factory.mktemp("link") / "var").start()
    cams = []
    try:
        pw = {u: srv.add_user(u, f"{u}-password-1") for u in ("alice", "bob", "carol")}
        srv.cli("home", "add", "A", "--owner", "alice")
        srv.cli("home", "add", "B", "--owner", "bob")

        def camera(name, home, model):
            return json.loads(srv.cli("camera", "add", "--name", name, "--home", home, "--model", model).stdout)

        front, back, garage = camera("front", "A", MODEL_PRO), camera("back", "A", MODEL_LITE), camera("garage", "B", MODEL_PRO)
        for c in (front, back, garage):
            cams.append(PatternCamera(c["ingest_url"], c["id"]).start())
        base = f"http://127.0.0.1:{srv.http_port()}"
        m = wait_for(lambda: srv.find(r"rtsps listening on [\d.:a-f]+:(\d+)"), 10, "rtsps to listen")
        ns = SimpleNamespace(srv=srv, cb=cb, base=base, pw=pw, front=front["id"], back=back["id"],
                             garage=garage["id"], stream_base=f"https://localhost:{srv.https_port()}",
                             rtsps_base=f"rtsps://localhost:{m.group(1)}", integ={}, sessions={})
        # alice turns TOTP on (the confirming code is the previous step's, so
        # that the logins after it need no wait).
        r = request("POST", f"{base}/api/v1/login", {"login": "alice", "password": pw["alice"]})
        assert r.status == 200, r
        bearer = {"Authorization": "Bearer " + r.json["session"]}
        r = request("POST", f"{base}/api/v1/me/totp", {}, headers=bearer)
        assert r.status == 200, r
        ns.totp = Totp(r.json["secret"])
        if time.time() % 30 > 28:
            time.sleep(2.5)
        step = int(time.time() // 30) - 1
        r = request("POST", f"{base}/api/v1/me/totp/confirm", {"code": ns.totp.at(step)}, headers=bearer)
        assert r.status == 200 and r.json["totp"] is True, r
        ns.totp.last = step
        # Two partners: a smart display (Google intents) and an assistant (Alexa
        # directives); each has two redirect URIs.
        for name in ("display", "assistant"):
            out = json.loads(srv.cli("integration", "add", name, "--redirect-uri", cb.url,
                                     "--redirect-uri", cb.url.replace("/cb", "/cb2")).stdout)
            assert out["client_secret"] and out["client_id"], out
            ns.integ[name] = out
        srv.cli("home", "member", "add", "A", "carol", "--role", "viewer")  # until a test removes her
        for c in (front, back, garage):
            wait_live(srv, c["id"], timeout=30)
        yield ns
    finally:
        for c in cams:
            c.stop()
        srv.stop()
        cb.stop()


def partner(w, name="display", auth="basic"):
    i = w.integ[name]
    return Partner(w.base, i["client_id"], i["client_secret"], w.cb.url, auth=auth)


def session(w, who):
    """A browser session of alice (password + TOTP) or bob, made once."""
    if who not in w.sessions:
        p = partner(w)
        if who == "alice":
            r = p.login("alice", w.pw["alice"])
            assert r.status == 401 and r.json.get("totp_required") is True, r
            r = p.login("alice", w.pw["alice"], w.totp.next())
        else:
            r = p.login(who, w.pw[who])
        assert r.status == 200 and r.json.get("session") and r.json.get("csrf"), r
        assert any(h.startswith("cv_session=") for k, h in r.headers if k == "set-cookie"), r.headers
        w.sessions[who] = r.json
    return w.sessions[who]


def get_code(w, who="alice", name="display", auth="basic", **areq_kw):
    """authorize + HTTP consent (allow) + the browser following the redirect.
    Returns (partner, authorization request, consent doc, code)."""
    p = partner(w, name, auth)
    areq = p.authorization_request(**areq_kw)
    r = p.get_authorize(areq)
    assert r.status == 200 and (r.header("content-type") or "").startswith("text/html"), r
    assert b"/oauth/consent.js" in r.raw, "the consent page loads its script"
    doc, redirect = p.http_consent(session(w, who), areq)
    code = check_code_redirect(redirect, areq.redirect_uri, areq.state)
    assert request("GET", redirect).status == 200  # the browser lands on the partner
    assert w.cb.wait(areq.state)["code"] == code
    return p, areq, doc, code


def link(w, who="alice", name="display", auth="basic"):
    p, areq, doc, code = get_code(w, who, name, auth)
    tokens = check_token_response(p.exchange(code, areq.verifier))
    return SimpleNamespace(p=p, areq=areq, doc=doc, code=code, tokens=tokens)


def links_of(w, who):
    r = api_request(w, "GET", "me/links", session(w, who))
    assert r.status == 200, r
    return r.json["links"]


def execute_url(w, p, access, camera_id, protocol):
    body = google_execute([camera_id], protocols=[protocol])
    r = p.google(access, body)
    return check_stream_result(check_execute(r, body)[camera_id], camera_id, protocol, w.stream_base)


def alexa_uri(w, p, access, camera_id):
    d = alexa_initialize(access, camera_id)
    r = p.alexa(d)
    return check_initialize(r, d, camera_id, w.rtsps_base), r.elapsed


def assert_plays(url, camera_id, frames=25, timeout=40):
    t0 = time.monotonic()
    out = decode_stream(url, frames=frames, timeout=timeout * SLOW)
    codes = [d for _, d in out if d]
    n = len(out)
    print(f"\n  played {url.split('?')[0]}: {n} frames in {time.monotonic() - t0:.1f}s")
    assert len(codes) >= frames * 0.6, f"{url}: {len(codes)} coded frames of {n}\n{out.stderr[-1500:]}"
    assert {c[0] for c in codes} == {camera_id}, f"{url}: frames of {sorted({c[0] for c in codes})}"
    return len(codes)


def assert_auth_failure(p, access):
    body = google_sync()
    check_google_error(p.google(access, body), "authFailure", status=401)
    d = alexa_discover(access)
    check_alexa_error(p.alexa(d), "INVALID_AUTHORIZATION_CREDENTIAL", d)


def assert_works(w, p, access, expect=None):
    """SYNC answers with the cameras (alice's two unless expect says otherwise)."""
    check_sync(p.google(access, google_sync()), expect or [w.front, w.back])


# ---------------------------------------------------------------------------
# Live readers, for measuring when a stream ends

class Mp4Reader(threading.Thread):
    """Reads a progressive MP4 body (chunked) until the server ends it."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.bytes, self.status, self.ended, self.error = url, 0, None, None, None
        self.last = None
        self.conn = None
        self.halt = threading.Event()

    def run(self):
        u = urlsplit(self.url)
        try:
            self.conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=15, context=insecure_tls())
            self.conn.request("GET", f"{u.path}?{u.query}")
            r = self.conn.getresponse()
            self.status = r.status
            while r.status == 200 and not self.halt.is_set():
                data = r.read1(65536)
                if not data:
                    break
                self.bytes += len(data)
                self.last = time.monotonic()
        except Exception as e:  # noqa: BLE001 (a reset is an end too)
            self.error = repr(e)
        finally:
            self.ended = time.monotonic()

    def stop(self):
        self.halt.set()  # data arrives many times a second: the loop sees it at once
        self.join(10)
        if self.conn:
            self.conn.close()


class HlsReader(threading.Thread):
    """An HLS player's requests: the media playlist of one session, then its
    newest part, again and again; ends at the first refusal."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.rounds, self.ended, self.refusal = url, 0, None, None
        self.halt = threading.Event()

    def run(self):
        try:
            r = request("GET", self.url, timeout=10)
            assert r.status == 200, r
            variant = [l for l in r.raw.decode().splitlines() if l and not l.startswith("#")][0]
            root = self.url.rsplit("/", 1)[0]
            media = f"{root}/{variant}"
            while not self.halt.is_set():
                r = request("GET", media, timeout=10)
                if r.status != 200:
                    self.refusal = ("playlist", r.status)
                    break
                parts = re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', r.raw.decode())
                if parts:
                    proot = media.rsplit("/", 1)[0]
                    r = request("GET", f"{proot}/{parts[-1]}", timeout=10)
                    if r.status != 200:
                        self.refusal = ("part", r.status)
                        break
                self.rounds += 1
                time.sleep(0.05)
        except Exception as e:  # noqa: BLE001
            self.refusal = ("error", repr(e))
        finally:
            self.ended = time.monotonic()

    def stop(self):
        self.halt.set()
        self.join(10)


class RtspsReader(threading.Thread):
    """ffmpeg playing an rtsps:// URL; records each decoded frame's camera."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.frames, self.ended, self.result = url, [], None, None

    def run(self):
        try:
            self.result = decode_stream(self.url, timeout=60, on_frame=lambda t, d: self.frames.append(d))
        finally:
            self.ended = time.monotonic()


def start_readers(w, p, access, camera_id, rtsps=True):
    readers = {"mp4": Mp4Reader(execute_url(w, p, access, camera_id, "progressive_mp4")),
               "hls": HlsReader(execute_url(w, p, access, camera_id, "hls"))}
    if rtsps:
        ev, _ = alexa_uri(w, p, access, camera_id)
        readers["rtsps"] = RtspsReader(ev["payload"]["cameraStreams"][0]["uri"])
    for r in readers.values():
        r.start()
    wait_for(lambda: all(_flowing(r) for r in readers.values()), 30, f"every stream of {camera_id} to flow")
    return readers


def _flowing(r):
    if isinstance(r, Mp4Reader):
        return r.bytes > 20000
    if isinstance(r, HlsReader):
        return r.rounds >= 3
    return len([f for f in r.frames if f]) >= 5


def still_flowing(r, seconds=1.5):
    """The reader gets new data during the next seconds."""
    if isinstance(r, Mp4Reader):
        before = r.bytes
        time.sleep(seconds)
        return r.ended is None and r.bytes > before
    if isinstance(r, HlsReader):
        before = r.rounds
        time.sleep(seconds)
        return r.ended is None and r.rounds > before
    before = len(r.frames)
    time.sleep(seconds)
    return r.ended is None and len(r.frames) > before


def measure_end(readers, action, what):
    """Runs action(); returns {reader: ms from the action's return to the stream's end}."""
    for r in readers.values():
        assert r.ended is None, f"{r} ended before {what}"
    t0 = time.monotonic()
    action()
    t1 = time.monotonic()
    wait_for(lambda: all(r.ended is not None for r in readers.values()), 10, f"every stream to end after {what}")
    out = {k: round((r.ended - t1) * 1000) for k, r in readers.items()}
    print(f"\n{what}: action took {round((t1 - t0) * 1000)} ms; streams ended after it in (ms): {out}; "
          f"from the action's start: { {k: round((r.ended - t0) * 1000) for k, r in readers.items()} }")
    for k, r in readers.items():
        if isinstance(r, RtspsReader):
            codes = [f for f in r.frames if f]
            assert codes and {c[0] for c in codes} == {codes[0][0]}, "RTSPS frames of one camera only"
    slow = {k: ms for k, ms in out.items() if ms > END_LIMIT_S * 1000 * SLOW}
    assert not slow, f"{what}: streams still running after {END_LIMIT_S}s: {slow} (all: {out})"
    return out


def cli(w, *args):
    return w.srv.cli(*args)


# ---------------------------------------------------------------------------
# The flows

def test_conformance_flow_over_http(w):
    p, areq, doc, code = get_code(w, "alice")
    assert doc["partner"] == "display"
    homes = {h["name"]: {c["id"] for c in h["cameras"]} for h in doc["homes"]}
    assert homes == {"A": {w.front, w.back}}, f"alice's consent lists {homes}"
    assert w.garage not in consent_cameras(doc)
    tokens = check_token_response(p.exchange(code, areq.verifier))

    # Refresh rotates both tokens (client_secret_post this time); the new pair works.
    r = p.refresh(tokens["refresh_token"], auth="post")
    fresh = check_token_response(r)
    assert fresh["refresh_token"] != tokens["refresh_token"] and fresh["access_token"] != tokens["access_token"]
    access = fresh["access_token"]

    body = google_sync()
    r = p.google(access, body)
    sync = check_sync(r, [w.front, w.back])
    assert sync["requestId"] == body["requestId"]
    names = {d["id"]: d["name"]["name"] for d in sync["payload"]["devices"]}
    assert names == {w.front: "front", w.back: "back"}, names

    body = google_query([w.front, w.back])
    devs = check_query(p.google(access, body), body)
    assert all(devs[i] == {**devs[i], "online": True, "status": "SUCCESS"} for i in (w.front, w.back)), devs

    # EXECUTE both ways; each URL plays with no header and shows the camera asked for.
    for cam, proto in ((w.front, "hls"), (w.back, "progressive_mp4"), (w.back, "hls"), (w.front, "progressive_mp4")):
        url = execute_url(w, p, access, cam, proto)
        n = assert_plays(url, cam, frames=20)
        print(f"\nEXECUTE {proto} {cam[:8]}: {n} frames of the right camera")
    # Both cameras in one command; either protocol the partner accepts.
    body = google_execute([w.front, w.back], protocols=["progressive_mp4", "hls"])
    res = check_execute(p.google(access, body), body)
    for cam in (w.front, w.back):
        proto = res[cam].get("states", {}).get("cameraStreamProtocol")
        assert proto in ("progressive_mp4", "hls"), res
        check_stream_result(res[cam], cam, proto, w.stream_base)

    # DISCONNECT ends the link: {} and no token works any more, and a stream
    # the partner was playing ends.
    reader = Mp4Reader(execute_url(w, p, access, w.front, "progressive_mp4"))
    reader.start()
    wait_for(lambda: _flowing(reader), 20, "the MP4 stream to flow")
    before = {l["id"] for l in links_of(w, "alice")}

    def disconnect():
        r = p.google(access, google_disconnect())
        assert r.status == 200 and r.json == {}, r

    measure_end({"mp4": reader}, disconnect, "DISCONNECT")
    assert_auth_failure(p, access)
    check_oauth_error(p.refresh(fresh["refresh_token"]), "invalid_grant")
    assert len(before - {l["id"] for l in links_of(w, "alice")}) == 1, "the link is gone from alice's list"


def need_browser():
    from test_browser import need_browser as nb
    nb()


def test_consent_page_in_a_browser_allow_and_deny(w):
    need_browser()
    p = partner(w)
    areq = p.authorization_request()
    rc, res = playwright_consent(areq.url, "alice", w.pw["alice"], expect_cameras=[w.front, w.back],
                                 totp=w.totp.next(), partner="display", timeout=60 * SLOW)
    print("\nlink-consent (allow):", json.dumps(res))
    assert rc == 0 and res["ok"], res
    assert res["totpAsked"] is True, "the page asked for alice's one-time code"
    assert [sorted(h["cameras"]) for h in res["homes"]] == [sorted([w.front, w.back])], res  # home A only
    code = check_code_redirect(res["redirect"], p.redirect_uri, areq.state)
    assert w.cb.wait(areq.state)["code"] == code
    tokens = check_token_response(p.exchange(code, areq.verifier))
    assert_works(w, p, tokens["access_token"])

    # bob (no TOTP) sees only his camera, and says no.
    areq = p.authorization_request()
    rc, res = playwright_consent(areq.url, "bob", w.pw["bob"], expect_cameras=[w.garage], deny=True,
                                 partner="display", timeout=60 * SLOW)
    print("\nlink-consent (deny):", json.dumps(res))
    assert rc == 0 and res["ok"] and res["error"] == "access_denied", res
    q = query_of(res["redirect"])
    assert q == {"error": "access_denied", "state": areq.state} or (q.keys() - {"error_description"}) == {"error", "state"}, q

    # The harness itself: a camera set other than the one shown fails, without consenting.
    areq = p.authorization_request()
    rc, res = playwright_consent(areq.url, "bob", w.pw["bob"], expect_cameras=[w.front], timeout=60 * SLOW)
    assert rc == 1 and not res["ok"] and res["redirect"] is None and "cameras listed" in res["failures"][0], res


def test_alexa_discover_initialize_play_and_snapshot(w):
    ln = link(w, name="assistant")
    p, access = ln.p, ln.tokens["access_token"]
    check_discover(p.alexa(alexa_discover(access)), [w.front, w.back])
    ev, elapsed = alexa_uri(w, p, access, w.front)
    print(f"\nInitializeCameraStreams answered in {elapsed * 1000:.0f} ms")
    assert elapsed < 6.0, f"Alexa needs the answer within 6 s; took {elapsed:.2f} s"
    s = ev["payload"]["cameraStreams"][0]
    n = assert_plays(s["uri"], w.front, frames=25)
    print(f"RTSPS {s['uri'].split('?')[0]}: {n} frames of the right camera")
    r = request("GET", ev["payload"]["imageUri"])
    assert r.status == 200 and r.header("content-type") == "image/jpeg", r
    code = decode_jpeg(r.raw)
    assert code and code[0] == w.front, "the imageUri shows the camera asked for"
    # the other camera too
    ev, elapsed = alexa_uri(w, p, access, w.back)
    assert elapsed < 6.0
    assert_plays(ev["payload"]["cameraStreams"][0]["uri"], w.back, frames=15)


# ---------------------------------------------------------------------------
# Refusals: the right error, and nothing changes

def test_authorize_errors(w):
    p = partner(w)
    good = p.authorization_request()
    # Unknown client, unregistered or altered redirect URIs: an error page, never a redirect.
    for what, bad in (("unknown client_id", p.authorization_request(client_id="cvc_" + "0" * 40)),
                      ("unregistered redirect_uri", p.authorization_request(redirect_uri="http://127.0.0.1:1/cb")),
                      ("longer path", p.authorization_request(redirect_uri=w.cb.url + "/extra")),
                      ("added query", p.authorization_request(redirect_uri=w.cb.url + "?x=1")),
                      # §3.1.2.3: with more than one URI registered, redirect_uri is required
                      ("no redirect_uri", p.authorization_request(redirect_uri=None)),
                      ("no client_id", p.authorization_request(client_id=None))):
        r = p.get_authorize(bad)
        assert r.status == 400 and r.header("location") is None, (what, bad.url, r.status, r.header("location"))
        check_authorize_error_page(r)
    # The other integration's URI does not work with this client id either (same
    # URIs here, so use a client id that exists with a URI only the other has):
    # other errors go back to the partner with error= and state.
    for kw, err in (({"response_type": "token"}, "unsupported_response_type"),
                    ({"code_challenge": None}, "invalid_request"),
                    ({"code_challenge_method": "plain"}, "invalid_request"),
                    ({"code_challenge_method": None}, "invalid_request"),
                    ({"code_challenge": "short"}, "invalid_request")):
        areq = p.authorization_request(**kw)
        check_authorize_redirect_error(p.get_authorize(areq), p.redirect_uri, areq.state, err)
    assert p.get_authorize(good).status == 200


def test_token_endpoint_refusals_change_nothing(w):
    ln = link(w)
    p, access = ln.p, ln.tokens["access_token"]
    # a code bound to cb: exchanging it with the other registered URI fails
    p2, areq, _, code = get_code(w)
    check_oauth_error(p.exchange(code, areq.verifier, redirect_uri=w.cb.url.replace("/cb", "/cb2")), "invalid_grant")
    assert_works(w, p, access)
    # a missing verifier is a malformed request: the code stays redeemable
    p2, areq, _, code = get_code(w)
    check_oauth_error(p.exchange(code, None), "invalid_request")
    check_oauth_error(p.exchange(code, areq.verifier, redirect_uri=None), "invalid_request")
    got = check_token_response(p.exchange(code, areq.verifier))
    assert_works(w, p, got["access_token"])
    # a wrong verifier (an intercepted code): invalid_grant
    p2, areq, _, code = get_code(w)
    other_verifier = p.authorization_request().verifier
    check_oauth_error(p.exchange(code, other_verifier), "invalid_grant")
    assert_works(w, p, access)
    # a malformed one (too short for RFC 7636 §4.1) cannot match either
    p2, areq, _, code = get_code(w)
    r = p.exchange(code, "short")
    assert r.status == 400 and r.json["error"] in ("invalid_request", "invalid_grant"), r
    assert_works(w, p, access)
    # the other partner's credentials with this code; bad credentials; bad grant types
    p2, areq, _, code = get_code(w)
    check_oauth_error(partner(w, "assistant").exchange(code, areq.verifier), "invalid_grant")
    bad = partner(w)
    bad.client_secret = "cvs_" + "x" * 43
    r = bad.exchange(code, areq.verifier)
    check_oauth_error(r, "invalid_client", 401)
    assert (r.header("www-authenticate") or "").lower().startswith("basic"), "§5.2: 401 with WWW-Authenticate"
    check_oauth_error(bad.refresh(ln.tokens["refresh_token"], auth="post"), "invalid_client", 401)
    check_oauth_error(p.token({"grant_type": "password", "username": "alice", "password": "x"}),
                      "unsupported_grant_type")
    check_oauth_error(p.token({"code": code}), "invalid_request")
    check_oauth_error(p.refresh(access), "invalid_grant")  # an access token is not a refresh token
    assert_works(w, p, access)
    # and the real refresh token still rotates
    check_token_response(p.refresh(ln.tokens["refresh_token"]))


def test_reused_code_revokes_what_it_gave(w):
    keep = link(w)
    ln = link(w)
    p = ln.p
    r = p.exchange(ln.code, ln.areq.verifier)
    check_oauth_error(r, "invalid_grant")
    assert_auth_failure(p, ln.tokens["access_token"])
    check_oauth_error(p.refresh(ln.tokens["refresh_token"]), "invalid_grant")
    assert_works(w, p, keep.tokens["access_token"])  # another link is untouched


def test_reused_refresh_token_revokes_the_chain(w):
    keep = link(w)
    ln = link(w)
    p = ln.p
    t1 = check_token_response(p.refresh(ln.tokens["refresh_token"]))
    t2 = check_token_response(p.refresh(t1["refresh_token"]))
    assert_works(w, p, t2["access_token"])
    check_oauth_error(p.refresh(ln.tokens["refresh_token"]), "invalid_grant")  # replayed
    assert_auth_failure(p, t2["access_token"])
    check_oauth_error(p.refresh(t2["refresh_token"]), "invalid_grant")
    assert_works(w, p, keep.tokens["access_token"])


def test_other_users_and_other_homes_cameras_are_not_found(w):
    bob = link(w, "bob")
    p, access = bob.p, bob.tokens["access_token"]
    assert {c for c in consent_cameras(bob.doc)} == {w.garage}
    check_sync(p.google(access, google_sync()), [w.garage])
    made_up = random_camera_id()
    body = google_query([w.front, made_up, w.garage])
    devs = check_query(p.google(access, body), body)
    assert devs[w.front] == devs[made_up] and devs[w.front]["status"] == "ERROR" \
        and devs[w.front]["errorCode"] == "deviceNotFound", devs
    assert devs[w.garage]["status"] == "SUCCESS"
    for cam in (w.front, made_up):
        body = google_execute([cam])
        res = check_execute(p.google(access, body), body)
        assert res[cam]["status"] == "ERROR" and res[cam]["errorCode"] == "deviceNotFound", res
        assert "cameraStreamAccessUrl" not in json.dumps(res)
    a = [p.alexa(alexa_initialize(access, cam)) for cam in (w.front, made_up)]
    for r in a:
        check_alexa_error(r, "NO_SUCH_ENDPOINT")
    strip = lambda r: {k: v for k, v in r.json["event"]["payload"].items()}
    assert strip(a[0]) == strip(a[1]), "a foreign camera answers exactly like a made-up one"
    # and bob's stream URL for his camera does not open alice's
    url = execute_url(w, p, access, w.garage, "progressive_mp4")
    tok = query_of(url)["token"]
    for path in (f"/cam/{w.front}/live.mp4", f"/cam/{w.front}/index.m3u8", f"/cam/{w.front}/snapshot.jpg"):
        r = request("GET", f"{w.stream_base}{path}?token={tok}")
        assert r.status in (401, 403, 404), (path, r)
    # alice's token reaches none of bob's cameras either
    al = link(w, "alice")
    body = google_query([w.garage])
    assert check_query(al.p.google(al.tokens["access_token"], body), body)[w.garage]["errorCode"] == "deviceNotFound"


def test_fulfillment_refusals(w):
    ln = link(w)
    p, access = ln.p, ln.tokens["access_token"]
    # malformed JSON
    r = p.google(access, None, raw=b'{"requestId": "x", "inputs": [')
    check_google_error(r, "protocolError", status=400)
    r = p.alexa(None, raw=b"{nope")
    assert r.status in (200, 400), r
    ev = r.json["event"]
    assert ev["header"]["name"] == "ErrorResponse" and ev["payload"]["type"] == "INVALID_DIRECTIVE", r
    # no token, a made-up token, a refresh token used as an access token
    for tok in (None, "cva_" + "0" * 43, ln.tokens["refresh_token"]):
        check_google_error(p.google(tok, google_sync()), "authFailure", status=401)
    d = alexa_initialize("nope", w.front)
    check_alexa_error(p.alexa(d), "INVALID_AUTHORIZATION_CREDENTIAL", d)
    # an unknown command, an unknown protocol
    body = google_execute([w.front], command="action.devices.commands.OnOff", params={"on": True})
    res = check_execute(p.google(access, body), body)
    assert res[w.front]["status"] == "ERROR" and res[w.front]["errorCode"] in ("functionNotSupported", "notSupported"), res
    body = google_execute([w.front], protocols=["smooth_stream"])
    res = check_execute(p.google(access, body), body)
    assert res[w.front]["status"] == "ERROR" and res[w.front]["errorCode"] == "notSupported", res
    # nothing changed
    assert_works(w, p, access)


def test_revoke_endpoint(w):
    ln = link(w)
    p = ln.p
    # unknown tokens: 200 (RFC 7009 §2.2)
    assert p.revoke("not-a-token").status == 200
    assert p.revoke("").status in (200, 400)
    bad = partner(w)
    bad.client_secret = "cvs_" + "y" * 43
    check_oauth_error(bad.revoke(ln.tokens["access_token"]), "invalid_client", 401)
    # another client cannot revoke this client's tokens
    partner(w, "assistant").revoke(ln.tokens["access_token"], "access_token")
    assert_works(w, p, ln.tokens["access_token"])
    # the access token
    r = p.revoke(ln.tokens["access_token"], "access_token")
    assert r.status == 200, r
    assert_auth_failure(p, ln.tokens["access_token"])
    t = check_token_response(p.refresh(ln.tokens["refresh_token"]))  # the grant lives on
    assert_works(w, p, t["access_token"])
    # the refresh token (hint wrong on purpose: §2.1 says search further) also
    # ends the access tokens of the same grant (§2.1 SHOULD)
    r = p.revoke(t["refresh_token"], "access_token", auth="post")
    assert r.status == 200, r
    check_oauth_error(p.refresh(t["refresh_token"]), "invalid_grant")
    assert_auth_failure(p, t["access_token"])
    assert p.revoke(t["refresh_token"]).status == 200  # again: still 200


def test_expired_stream_url(server, w):
    """Stream URLs live link_stream_ttl seconds (5 min by default; 2 s on this server)."""
    cb = CallbackServer("/cb").start()
    srv = server(config={"link_stream_ttl": 2})
    pc = None
    try:
        srv.add_user("carol", "carol-password-1")
        srv.cli("home", "add", "C", "--owner", "carol")
        cam = json.loads(srv.cli("camera", "add", "--name", "hall", "--home", "C").stdout)
        pc = PatternCamera(cam["ingest_url"], cam["id"]).start()
        out = json.loads(srv.cli("integration", "add", "display", "--redirect-uri", cb.url).stdout)
        base = f"http://127.0.0.1:{srv.http_port()}"
        p = Partner(base, out["client_id"], out["client_secret"], cb.url)
        s = p.login("carol", "carol-password-1").json
        areq = p.authorization_request()
        _, redirect = p.http_consent(s, areq)
        tok = check_token_response(p.exchange(check_code_redirect(redirect, cb.url, areq.state), areq.verifier))
        wait_live(srv, cam["id"], timeout=30)
        body = google_execute([cam["id"]], protocols=["progressive_mp4"])

        def fresh_url():
            cmd = check_execute(p.google(tok["access_token"], body), body)[cam["id"]]
            url = check_stream_result(cmd, cam["id"], "progressive_mp4", f"https://localhost:{srv.https_port()}")
            t = time.monotonic()
            r = request("GET", url.replace("live.mp4", "snapshot.jpg"))
            return r.status == 200 and time.monotonic() - t < 1.5 and (url, t)

        url, t_minted = wait_for(fresh_url, 20, "a first picture through a fresh stream URL")
        time.sleep(max(0, 3.2 - (time.monotonic() - t_minted)))
        for path in ("live.mp4", "index.m3u8", "snapshot.jpg"):
            r = request("GET", url.replace("live.mp4", path))
            assert r.status in (401, 403), (path, r)
        assert fresh_url(), "a fresh one works again"
    finally:
        if pc:
            pc.stop()
        cb.stop()


# ---------------------------------------------------------------------------
# Live streams end within a second: kill switch, per-model kill switch, unlink

def test_kill_switch_ends_every_stream_within_a_second(w):
    ln = link(w)
    p, access = ln.p, ln.tokens["access_token"]
    other = link(w, name="assistant")  # another partner keeps playing
    readers = start_readers(w, p, access, w.front)
    bystander = Mp4Reader(execute_url(w, other.p, other.tokens["access_token"], w.front, "progressive_mp4"))
    bystander.start()
    wait_for(lambda: _flowing(bystander), 20, "the other partner's stream to flow")
    try:
        measure_end(readers, lambda: cli(w, "integration", "disable", "display"), "kill switch (CLI disable display)")
        assert still_flowing(bystander), "the other partner's stream must keep playing"
        # new requests refused, and they change nothing
        for body in (google_sync(), google_query([w.front]), google_execute([w.front])):
            r = p.google(access, body)
            assert r.status == 200 and r.json["payload"].get("errorCode") == "streamUnavailable" \
                and r.json["payload"].get("status") == "ERROR", r
        d = alexa_initialize(access, w.front)
        check_alexa_error(p.alexa(d), "ENDPOINT_UNREACHABLE", d)
        check_oauth_error(p.refresh(ln.tokens["refresh_token"]), "unauthorized_client")
        for k, rd in readers.items():
            if k == "mp4":
                assert request("GET", rd.url).status == 503, "the old URL is switched off"
    finally:
        cli(w, "integration", "enable", "display")
    # enabled again: fresh URLs play; the refresh token was not burnt
    assert_plays(execute_url(w, p, access, w.front, "hls"), w.front, frames=15)
    assert_plays(execute_url(w, p, access, w.back, "progressive_mp4"), w.back, frames=15)
    check_token_response(p.refresh(ln.tokens["refresh_token"]))
    bystander.stop()


def test_per_model_kill_switch_stops_only_that_model(w):
    ln = link(w)
    p, access = ln.p, ln.tokens["access_token"]
    pro = start_readers(w, p, access, w.front)       # CamPro 2
    lite = start_readers(w, p, access, w.back, rtsps=False)  # CamLite
    try:
        measure_end(pro, lambda: cli(w, "integration", "disable", "display", "--camera-model", MODEL_PRO),
                    f"per-model kill switch ({MODEL_PRO})")
        for k, r in lite.items():
            assert still_flowing(r, 1.0), f"the {MODEL_LITE} {k} stream must keep playing"
        body = google_execute([w.front, w.back], protocols=["hls"])
        res = check_execute(p.google(access, body), body)
        assert res[w.front]["status"] == "ERROR" and res[w.front]["errorCode"] == "streamUnavailable", res
        check_stream_result(res[w.back], w.back, "hls", w.stream_base)
        d = alexa_initialize(access, w.front)
        check_alexa_error(p.alexa(d), "ENDPOINT_UNREACHABLE", d)
        alexa_uri(w, p, access, w.back)
        check_sync(p.google(access, google_sync()))
    finally:
        cli(w, "integration", "enable", "display", "--camera-model", MODEL_PRO)
        for r in lite.values():
            r.stop()
    assert_plays(execute_url(w, p, access, w.front, "progressive_mp4"), w.front, frames=15)


def test_unlink_ends_every_stream_within_a_second(w):
    """A link is one (user, partner) pair: linking again reuses it. Unlinking it
    ends every stream of it; the user's link with another partner plays on."""
    ln = link(w)
    keep = link(w, name="assistant")
    mine = [l for l in links_of(w, "alice") if l["integration"]["name"] == "display"]
    assert len(mine) == 1, links_of(w, "alice")
    target = mine[0]
    assert target["integration"]["id"] == w.integ["display"]["id"], target
    p, access = ln.p, ln.tokens["access_token"]
    readers = start_readers(w, p, access, w.back)
    bystander = Mp4Reader(execute_url(w, keep.p, keep.tokens["access_token"], w.back, "progressive_mp4"))
    bystander.start()
    wait_for(lambda: _flowing(bystander), 20, "the other link's stream to flow")

    def unlink():
        r = api_request(w, "DELETE", f"me/links/{target['id']}", session(w, "alice"))
        assert r.status == 204, r

    try:
        measure_end(readers, unlink, "unlink (DELETE /api/v1/me/links/{id})")
        assert_auth_failure(p, access)
        check_oauth_error(p.refresh(ln.tokens["refresh_token"]), "invalid_grant")
        assert still_flowing(bystander), ("the user's link with another partner keeps playing", bystander.error)
        assert_works(w, keep.p, keep.tokens["access_token"], [w.front, w.back])
        assert request("GET", readers["mp4"].url).status in (401, 403)
        # another user cannot see or remove alice's links
        keep_id = next(l["id"] for l in links_of(w, "alice") if l["integration"]["name"] == "assistant")
        r = api_request(w, "DELETE", f"me/links/{keep_id}", session(w, "bob"))
        assert r.status == 404, r
        assert_works(w, keep.p, keep.tokens["access_token"], [w.front, w.back])
    finally:
        bystander.stop()


def test_removing_the_users_access_ends_the_partners_streams(w):
    """carol, a viewer of home A, links the display; the owner removes her from
    the home: the partner's streams of home A end within a second and the
    cameras are gone from SYNC."""
    ln = link(w, "carol")
    p, access = ln.p, ln.tokens["access_token"]
    assert consent_cameras(ln.doc) == {w.front, w.back}
    readers = start_readers(w, p, access, w.front)
    measure_end(readers, lambda: cli(w, "home", "member", "remove", "A", "carol"),
                "user's access removed (CLI home member remove)")
    body = google_execute([w.front])
    res = check_execute(p.google(access, body), body)
    assert res[w.front]["status"] == "ERROR" and res[w.front]["errorCode"] == "deviceNotFound", res
    r = p.google(access, google_sync())
    assert r.status == 401 or check_sync(r, []), r
    assert request("GET", readers["mp4"].url).status in (401, 403, 404)


def test_kill_switch_answers_503_with_a_reason_on_media_paths(w):
    """While the operator has switched a partner off, its stream URLs answer
    503 with a reason and Retry-After rather than 403: the URL is fine, the
    service is off for now. Switched on again, the same URL works."""
    ln = link(w)
    p, access = ln.p, ln.tokens["access_token"]
    url = execute_url(w, p, access, w.back, "progressive_mp4")
    snapshot = url.replace("live.mp4", "snapshot.jpg")
    cli(w, "integration", "disable", "display")
    try:
        for u in (url, snapshot):
            r = request("GET", u)
            assert r.status == 503, r
            assert r.json == {"error": "stream unavailable", "reason": "switched off by the operator"}, r
            assert r.header("retry-after") == "30", r.headers
    finally:
        cli(w, "integration", "enable", "display")
    r = request("GET", snapshot)
    assert r.status == 200 and r.raw[:2] == b"\xff\xd8", r
