"""The REST API (/api/v1/) against the real binary: login and sessions
(Bearer and cookie + CSRF), who may do what (403 that never tells whether an
id exists), bad input that writes nothing, TOTP, app passwords, and tokens
issued and revoked over HTTP that open and then stop opening RTSP."""
import base64
import hashlib
import hmac
import http.client
import json
import re
import struct
import subprocess
import time

import pytest

from conftest import SLOW, make_clip, push_camera, wait_for, wait_live
from rtsp_client import Client

RANDOM_ID = "0123456789abcdef0123456789abcdef"


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers  # [(name lowercased, value)]
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        return next((v for k, v in self.headers if k == name.lower()), None)

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class Api:
    """A client for the server's HTTP port, one connection per request."""

    def __init__(self, srv):
        self.srv = srv
        m = wait_for(lambda: srv.find(r"http listening on [\d.:a-f]+:(\d+)"), 10, "http to listen")
        self.port = int(m.group(1))

    def request(self, method, path, body=None, headers=None, raw=None, ctype="application/json", source=None):
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and ctype:
            h.setdefault("Content-Type", ctype)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30 * SLOW,
                                       source_address=(source, 0) if source else None)
        try:
            c.request(method, "/api/v1/" + path, body=data, headers=h)
            r = c.getresponse()
            return Resp(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
        finally:
            c.close()

    def login(self, login, password, totp=None, source=None):
        body = {"login": login, "password": password}
        if totp is not None:
            body["totp"] = totp
        return self.request("POST", "login", body, source=source)

    def session(self, login, password=None, totp=None):
        r = self.login(login, password or self.srv.users[login], totp)
        assert r.status == 200, r
        return Session(self, r.json)


class Session:
    """A logged-in caller; bearer by default, or the browser's cookie + CSRF."""

    def __init__(self, api, answer):
        self.api = api
        self.secret = answer["session"]
        self.csrf = answer["csrf"]
        self.user = answer["user"]

    def bearer(self):
        return {"Authorization": "Bearer " + self.secret}

    def cookie(self, csrf=True):
        h = {"Cookie": "cv_session=" + self.secret}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        return h

    def __call__(self, method, path, body=None, headers=None, **kw):
        h = self.bearer()
        h.update(headers or {})
        return self.api.request(method, path, body, h, **kw)


def totp_code(secret_b32, t=None, step_offset=0):
    """RFC 6238: HMAC-SHA1, 30 s steps, 6 digits."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((time.time() if t is None else t) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


@pytest.fixture
def api(server):
    srv = server()
    srv.add_user("root", "root-password-1", admin=True)
    srv.add_user("alice", "alice-password-1")
    srv.add_user("mallory", "mallory-password-1")
    return Api(srv)


def home_with_camera(s, name="house", camera="porch", **extra):
    r = s("POST", "homes", {"name": name})
    assert r.status == 201, r
    home = r.json
    r = s("POST", f"homes/{home['id']}/cameras", {"name": camera, **extra})
    assert r.status == 201, r
    return home, r.json


def audit_events(api, kind):
    root = api.session("root")
    r = root("GET", "audit?limit=1000")
    assert r.status == 200, r
    return [e for e in r.json["events"] if e["event"] == kind]


def test_login_failures_are_byte_identical(api):
    wrong = api.login("alice", "not-the-password")
    unknown = api.login("nobody", "not-the-password")
    assert wrong.status == unknown.status == 401
    assert wrong.raw == unknown.raw == b'{"error":"invalid login or password"}'
    names = lambda r: sorted(k for k, _ in r.headers if k != "date")
    assert names(wrong) == names(unknown)
    # A disabled account answers exactly like a wrong password.
    root = api.session("root")
    r = root("POST", f"users/{api.session('mallory').user['id']}/disable")
    assert r.status == 200 and r.json["user"]["disabled"] is True
    disabled = api.login("mallory", "mallory-password-1")
    assert disabled.status == 401 and disabled.raw == wrong.raw
    # Login names are case-insensitive; every attempt is audited.
    assert api.login("ALICE", "alice-password-1").status == 200
    fails = audit_events(api, "login.fail")
    assert {e["principal"] for e in fails} >= {"user:alice", "user:nobody", "user:mallory"}
    assert all(e["protocol"] == "http" and e["address"] == "127.0.0.1" for e in fails)
    assert any(e["principal"] == "user:alice" for e in audit_events(api, "login.ok"))


def test_login_answer_and_cookie(api):
    r = api.login("alice", "alice-password-1")
    assert r.status == 200
    j = r.json
    assert j["user"]["login"] == "alice" and j["user"]["admin"] is False
    assert len(j["session"]) >= 43 and len(j["csrf"]) == 64
    assert j["expires"] > time.time() + 3600
    cookie = r.header("set-cookie")
    assert cookie.startswith("cv_session=" + j["session"] + ";")
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert attr in cookie, cookie


def test_bearer_and_cookie_sessions_and_csrf(api):
    s = api.session("alice")
    assert s("GET", "me").json["user"]["login"] == "alice"
    assert api.request("GET", "me", headers=s.cookie(csrf=False)).status == 200
    # Nothing, a wrong secret, or a cookie with a bearer's shape: 401.
    assert api.request("GET", "me").status == 401
    assert api.request("GET", "me", headers={"Authorization": "Bearer " + "x" * 43}).status == 401
    assert api.request("GET", "me", headers={"Cookie": "cv_session=" + "y" * 43}).status == 401
    # Cookie sessions need the CSRF header on every unsafe method.
    for h in (s.cookie(csrf=False), dict(s.cookie(), **{"X-CSRF-Token": "0" * 64}),
              dict(s.cookie(), **{"X-CSRF-Token": s.csrf[:-1]})):
        r = api.request("POST", "homes", {"name": "csrf"}, h)
        assert r.status == 403 and r.json == {"error": "missing or bad CSRF token"}, r
    assert s("GET", "homes").json["homes"] == []
    r = api.request("POST", "homes", {"name": "csrf"}, s.cookie())
    assert r.status == 201, r
    hid = r.json["id"]
    r = api.request("DELETE", f"homes/{hid}", headers=s.cookie(csrf=False))
    assert r.status == 403 and "CSRF" in r.json["error"]
    # Bearer needs no CSRF header.
    assert s("DELETE", f"homes/{hid}").status == 204
    # Another session's CSRF value does not fit this one.
    other = api.session("alice")
    h = dict(s.cookie(), **{"X-CSRF-Token": other.csrf})
    assert api.request("POST", "homes", {"name": "x"}, h).status == 403


def test_logout_invalidates_the_session(api):
    s = api.session("alice")
    c = api.session("alice")
    assert s("POST", "logout").status == 204
    assert s("GET", "me").status == 401
    # Cookie logout: CSRF needed, then the cookie is cleared.
    assert api.request("POST", "logout", headers=c.cookie(csrf=False)).status == 403
    r = api.request("POST", "logout", headers=c.cookie())
    assert r.status == 204 and "Max-Age=0" in r.header("set-cookie")
    assert api.request("GET", "me", headers=c.cookie()).status == 401


def test_admin_only_routes_refuse_others(api):
    alice, root = api.session("alice"), api.session("root")
    bob_id = root("POST", "users", {"login": "bob", "password": "bob-password-1"}).json["user"]["id"]
    for method, path, body in (("GET", "users", None), ("POST", "users", {"login": "eve"}),
                               ("POST", f"users/{bob_id}/disable", None), ("POST", f"users/{bob_id}/enable", None),
                               ("DELETE", f"users/{bob_id}", None)):
        r = alice(method, path, body)
        assert r.status == 403 and r.json == {"error": "forbidden"}, (method, path, r)
    assert "eve" not in [u["login"] for u in root("GET", "users").json["users"]]
    # The admin: a generated password, shown once, that logs in.
    r = root("POST", "users", {"login": "carol"})
    assert r.status == 201 and len(r.json["password"]) >= 16
    assert api.login("carol", r.json["password"]).status == 200
    assert root("POST", "users", {"login": "Carol", "password": "whatever-1"}).status == 409
    assert root("DELETE", f"users/{bob_id}").status == 204
    assert api.login("bob", "bob-password-1").status == 401
    assert root("DELETE", f"users/{root.user['id']}").status == 400  # not oneself


def test_non_member_gets_403_for_real_and_random_ids(api):
    alice, mallory = api.session("alice"), api.session("mallory")
    home, cam = home_with_camera(alice)
    grant = alice("POST", f"cameras/{cam['id']}/grants", {"login": "root", "scopes": ["live"], "expires_in": 60})
    assert grant.status == 201, grant
    answers = []
    for cid, hid, gid in ((cam["id"], home["id"], grant.json["id"]), (RANDOM_ID, RANDOM_ID, RANDOM_ID),
                          ("not-an-id", "zz", "%2e%2e")):
        for method, path, body in (
                ("GET", f"cameras/{cid}", None), ("DELETE", f"cameras/{cid}", None),
                ("POST", f"cameras/{cid}/rotate-secret", None), ("GET", f"cameras/{cid}/grants", None),
                ("POST", f"cameras/{cid}/grants", {"login": "mallory", "scopes": ["live"], "expires_in": 60}),
                ("POST", f"cameras/{cid}/tokens", {}), ("GET", f"audit?camera={cid}", None),
                ("GET", f"homes/{hid}/members", None), ("DELETE", f"homes/{hid}", None),
                ("PUT", f"homes/{hid}/members/mallory", {"role": "owner"}),
                ("POST", f"homes/{hid}/cameras", {"name": "mine"}), ("DELETE", f"grants/{gid}", None)):
            r = mallory(method, path, body)
            answers.append((method, path, r.status, r.raw))
    bad = [a for a in answers if a[2] != 403 or a[3] != b'{"error":"forbidden"}']
    assert not bad, bad
    assert alice("GET", f"cameras/{cam['id']}").status == 200
    assert mallory("GET", "cameras").json["cameras"] == []
    assert mallory("GET", "homes").json["homes"] == []
    # Unknown routes are the only 404s.
    assert mallory("GET", "nothing/here").status == 404
    assert mallory("GET", "cameras/" + cam["id"] + "/").status == 404


def test_roles_and_guest_grants(api):
    alice, mallory, root = api.session("alice"), api.session("mallory"), api.session("root")
    home, cam = home_with_camera(alice)
    # A viewer sees the camera but may not remove it or grant.
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "viewer"}).status == 200
    assert mallory("GET", f"cameras/{cam['id']}").status == 200
    assert mallory("DELETE", f"cameras/{cam['id']}").status == 403
    assert mallory("GET", f"cameras/{cam['id']}/grants").status == 403
    members = mallory("GET", f"homes/{home['id']}/members").json["members"]
    assert {(m["login"], m["role"]) for m in members} == {("alice", "owner"), ("mallory", "viewer")}
    # The last owner stays.
    assert alice("PUT", f"homes/{home['id']}/members/alice", {"role": "member"}).status == 409
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "king"}).status == 400
    assert alice("PUT", f"homes/{home['id']}/members/nobody", {"role": "viewer"}).status == 400
    # A member adds a camera and grants a guest; the guest sees only that one.
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "member"}).status == 200
    side = mallory("POST", f"homes/{home['id']}/cameras", {"name": "side"})
    assert side.status == 201 and side.json["ingest_url"].startswith("rtsp://camera:")
    carol_pw = root("POST", "users", {"login": "carol"}).json["password"]
    carol = api.session("carol", carol_pw)
    g = mallory("POST", f"cameras/{side.json['id']}/grants", {"login": "carol", "scopes": ["live"],
                                                               "expires_in": 600})
    assert g.status == 201 and g.json["scopes"] == ["live"] and not g.json["expired"]
    assert [c["id"] for c in carol("GET", "cameras").json["cameras"]] == [side.json["id"]]
    assert carol("GET", f"cameras/{cam['id']}").status == 403
    assert carol("DELETE", f"grants/{g.json['id']}").status == 403
    assert mallory("DELETE", f"grants/{g.json['id']}").status == 204
    assert carol("GET", f"cameras/{side.json['id']}").status == 403
    # Leaving a home: a member may remove themselves.
    assert mallory("DELETE", f"homes/{home['id']}/members/mallory").status == 204
    assert mallory("GET", f"cameras/{cam['id']}").status == 403
    # Admins see everything.
    assert {c["id"] for c in root("GET", "cameras").json["cameras"]} == {cam["id"], side.json["id"]}


def test_pull_camera_never_shows_credentials(api):
    alice = api.session("alice")
    home, cam = home_with_camera(alice, camera="door", pull_url="rtsp://admin:hunter22@192.0.2.10/s1",
                                 transport="udp")
    assert cam["source"] == "pull" and cam["transport"] == "udp" and "ingest_url" not in cam
    for r in (alice("GET", f"cameras/{cam['id']}"), alice("GET", "cameras")):
        assert r.status == 200 and b"hunter22" not in r.raw and b"s1." not in r.raw
    assert alice("POST", f"cameras/{cam['id']}/rotate-secret").status == 400


def test_bad_input_is_a_json_4xx_and_writes_nothing(api):
    alice, root = api.session("alice"), api.session("root")
    home, cam = home_with_camera(alice)
    adds_before = len(audit_events(api, "home.add")) + len(audit_events(api, "camera.add"))
    cases = [
        ("homes", None, b'{"name": "x"', "application/json", 400),                  # malformed
        ("homes", None, b'{"name": "a", "name": "b"}', "application/json", 400),    # duplicate key
        ("homes", None, b'["name"]', "application/json", 400),                      # not an object
        ("homes", None, b'{"name": "\xff\xfe"}', "application/json", 400),          # invalid UTF-8
        ("homes", None, b'{"name": "a\\u0000b"}', "application/json", 400),         # NUL
        ("homes", None, b'{"name": "a\\u0007b"}', "application/json", 400),         # control character
        ("homes", {"name": "x" * 300}, None, "application/json", 400),              # oversized
        ("homes", {"name": 42}, None, "application/json", 400),                     # wrong type
        ("homes", {"nom": "x"}, None, "application/json", 400),                     # missing
        ("homes", None, b"", "application/json", 400),                              # empty
        ("homes", {"name": "x"}, None, "text/plain", 415),                          # content type
        ("homes", None, b"name=x", "application/x-www-form-urlencoded", 415),
        (f"homes/{home['id']}/cameras", {"name": "c", "model": "m" * 64}, None, "application/json", 400),
        (f"homes/{home['id']}/cameras", {"name": "c", "pull_url": "http://x/"}, None, "application/json", 400),
        (f"homes/{home['id']}/cameras", {"name": "c", "transport": "tcp"}, None, "application/json", 400),
        (f"homes/{home['id']}/cameras", {"name": "porch"}, None, "application/json", 409),
        (f"cameras/{cam['id']}/grants", {"login": "root", "scopes": [], "expires_in": 60}, None,
         "application/json", 400),
        (f"cameras/{cam['id']}/grants", {"login": "root", "scopes": ["live"], "expires_in": 1.5}, None,
         "application/json", 400),
        (f"cameras/{cam['id']}/tokens", {"scope": "everything"}, None, "application/json", 400),
        (f"cameras/{cam['id']}/tokens", {"ttl": 86401}, None, "application/json", 400),
        ("me/app-passwords", {"label": "l" * 64}, None, "application/json", 400),
    ]
    for path, body, raw, ctype, want in cases:
        r = alice("POST", path, body, raw=raw, ctype=ctype)
        assert r.status == want and isinstance(r.json, dict) and r.json.get("error"), (path, body, raw, r)
        assert r.header("content-type") == "application/json"
    r = root("POST", "users", {"login": "x' OR '1'='1"})
    assert r.status == 400 and "login" in r.json["error"]
    r = api.request("POST", "login", raw=b'{"login": "alice", "password": ["x"]}')
    assert r.status == 400 and r.json["error"] == "password: expected a string"
    # Nothing above was written.
    assert [h["name"] for h in alice("GET", "homes").json["homes"]] == ["house"]
    assert [c["name"] for c in alice("GET", "cameras").json["cameras"]] == ["porch"]
    assert alice("GET", f"cameras/{cam['id']}/grants").json["grants"] == []
    assert alice("GET", "me/app-passwords").json["app_passwords"] == []
    assert len(audit_events(api, "home.add")) + len(audit_events(api, "camera.add")) == adds_before
    # SQL metacharacters are just characters.
    name = "x'); DROP TABLE users; --\"%_\\"
    r = alice("POST", "homes", {"name": name})
    assert r.status == 201 and r.json["name"] == name
    assert name in [h["name"] for h in alice("GET", "homes").json["homes"]]
    assert len(root("GET", "users").json["users"]) == 3


def test_throttled_logins_get_429_with_retry_after(server):
    # A long first lockout, so that the assertions below cannot race its end
    # on a slow machine (the default is 1 s).
    srv = server(config={"throttle_lockout_ms": 60000})
    srv.add_user("alice", "alice-password-1")
    api = Api(srv)
    statuses = []
    for _ in range(10):
        r = api.login("alice", "wrong-password")
        statuses.append(r.status)
        if r.status == 429:
            break
    assert statuses[-1] == 429, statuses
    assert int(r.header("retry-after")) >= 1
    assert r.json["error"] == "too many failed attempts; retry later" and r.json["retry_after"] >= 1
    # The attacker's address stays locked out, even with the right password...
    assert api.login("alice", api.srv.users["alice"]).status == 429
    # ...while alice, from a clean address, logs in at once.
    assert api.login("alice", api.srv.users["alice"], source="127.0.0.2").status == 200
    # Unknown accounts are throttled the same way (nothing tells them apart).
    for _ in range(10):
        r = api.login("nobody-here", "wrong-password", source="127.0.0.3")
        if r.status == 429:
            break
    assert r.status == 429


def test_password_change(api):
    s = api.session("alice")
    r = s("POST", "me/password", {"old": "nope-nope-nope", "new": "alice-password-2"})
    assert r.status == 403
    assert s("POST", "me/password", {"old": "alice-password-1", "new": "short"}).status == 400
    other = api.session("alice")  # logged in elsewhere too
    assert s("POST", "me/password", {"old": "alice-password-1", "new": "alice-password-2"}).status == 204
    # A password change logs the user out everywhere.
    assert other("GET", "me").status == 401
    assert s("GET", "me").status == 401
    assert api.login("alice", "alice-password-1").status == 401
    assert api.login("alice", "alice-password-2").status == 200


def test_totp_enrol_confirm_login_disable(api):
    s = api.session("alice")
    r = s("POST", "me/totp")
    assert r.status == 200, r
    secret = r.json["secret"]
    assert r.json["otpauth_uri"].startswith("otpauth://totp/") and "secret=" + secret in r.json["otpauth_uri"]
    # Not yet on: a password alone still logs in.
    assert api.login("alice", "alice-password-1").status == 200
    # Three codes from neighbouring steps follow; keep clear of a step boundary.
    if 30 - time.time() % 30 < 6:
        time.sleep(30 - time.time() % 30 + 0.5)
    t = time.time()
    assert s("POST", "me/totp/confirm", {"code": "000000" if totp_code(secret, t) != "000000" else "111111"}
             ).status == 400
    r = s("POST", "me/totp/confirm", {"code": totp_code(secret, t, -1)})
    assert r.status == 200 and r.json["totp"] is True
    assert s("GET", "me").json["user"]["totp"] is True
    # Password right, code missing or wrong: "code required"; password wrong: the usual answer.
    need = api.login("alice", "alice-password-1")
    assert need.status == 401 and need.json == {"error": "one-time code required", "totp_required": True}
    assert api.login("alice", "alice-password-1", "123").json.get("totp_required") is True
    wrong = api.login("alice", "bad-password", totp_code(secret, t))
    assert wrong.status == 401 and wrong.raw == b'{"error":"invalid login or password"}'
    code = totp_code(secret, t)
    assert api.login("alice", "alice-password-1", code).status == 200
    # A code once accepted is not accepted again.
    assert api.login("alice", "alice-password-1", code).json.get("totp_required") is True
    assert s("DELETE", "me/totp", {"code": "999999" if code != "999999" else "888888"}).status == 400
    assert s("DELETE", "me/totp", {"code": totp_code(secret, t, +1)}).status == 204
    assert api.login("alice", "alice-password-1").status == 200


def ffprobe_ok(url):
    r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json", url],
                       capture_output=True, text=True, timeout=30 * SLOW)
    return r.returncode == 0 and json.loads(r.stdout)["streams"][0]["codec_name"] == "h264"


def describe_status(port, url):
    c = Client("127.0.0.1", port)
    try:
        return c.request("DESCRIBE", url, {"Accept": "application/sdp"}).status
    finally:
        c.close()


def test_tokens_and_app_passwords_issued_over_http_open_rtsp(api, procs):
    srv = api.srv
    alice, mallory = api.session("alice"), api.session("mallory")
    home, cam = home_with_camera(alice)
    assert re.fullmatch(rf"rtsp://camera:[A-Za-z0-9_-]{{20,}}@127\.0\.0\.1:{srv.port}/cam/{cam['id']}",
                        cam["ingest_url"]), cam
    push_camera(procs, make_clip("h264_only"), cam["ingest_url"])
    wait_live(srv, cam["id"])

    # Not a member: no token.
    assert mallory("POST", f"cameras/{cam['id']}/tokens", {}).status == 403
    r = alice("POST", f"cameras/{cam['id']}/tokens", {"scope": ["live", "snapshot"], "ttl": 600})
    assert r.status == 201, r
    tok = r.json
    assert tok["rtsp_url"] == f"rtsp://127.0.0.1:{srv.port}/cam/{cam['id']}?token={tok['token']}"
    assert tok["scopes"] == ["live", "snapshot"] and tok["expires"] > time.time() + 500
    assert ffprobe_ok(tok["rtsp_url"])
    # Ready-to-play URLs for every path, each carrying the token; HLS plays.
    urls = tok["urls"]
    assert set(urls) == {"rtsp", "hls", "mp4", "mjpeg", "snapshot"} and urls["rtsp"] == tok["rtsp_url"]
    assert urls["hls"] == f"http://127.0.0.1:{api.port}/cam/{cam['id']}/index.m3u8?token={tok['token']}"
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", urls["hls"]],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert "h264" in r.stdout, r.stderr
    # Only its principal, an owner of the camera's home or an admin revokes.
    assert mallory("POST", "tokens/revoke", {"token": tok["token"]}).status == 403
    assert alice("POST", "tokens/revoke", {"token": "cvt1.nonsense"}).status == 400
    assert alice("POST", "tokens/revoke", {"token": tok["token"]}).status == 204
    wait_for(lambda: describe_status(srv.port, tok["rtsp_url"]) == 401, 5, "the revoked token to be refused")
    assert not ffprobe_ok(tok["rtsp_url"])

    # App passwords: shown once, listed without the secret, work for Digest, removable.
    r = alice("POST", "me/app-passwords", {"label": "nvr"})
    assert r.status == 201 and r.json["label"] == "nvr" and "alice" in r.json["usage"]
    pw, pid = r.json["password"], r.json["id"]
    listed = alice("GET", "me/app-passwords")
    assert [p["label"] for p in listed.json["app_passwords"]] == ["nvr"] and pw.encode() not in listed.raw
    url = f"rtsp://alice:{pw}@127.0.0.1:{srv.port}/cam/{cam['id']}"
    assert ffprobe_ok(url)
    assert mallory("DELETE", f"me/app-passwords/{pid}").status == 403
    assert alice("DELETE", f"me/app-passwords/{pid}").status == 204
    assert describe_status(srv.port, url) == 401

    # Rotating the ingest secret: the new URL is shown once.
    r = alice("POST", f"cameras/{cam['id']}/rotate-secret")
    assert r.status == 200 and r.json["ingest_url"] != cam["ingest_url"]
    # Removing the camera (owner only) ends it.
    assert alice("DELETE", f"cameras/{cam['id']}").status == 204
    assert alice("GET", f"cameras/{cam['id']}").status == 403


def test_audit_log_access(api):
    alice, mallory, root = api.session("alice"), api.session("mallory"), api.session("root")
    home, cam = home_with_camera(alice)
    assert alice("GET", "audit").status == 403
    r = alice("GET", f"audit?camera={cam['id']}")
    assert r.status == 200 and [e["event"] for e in r.json["events"]] == ["camera.add"]
    assert r.json["events"][0]["principal"] == "user:alice"
    assert mallory("GET", f"audit?camera={cam['id']}").status == 403
    all_ = root("GET", "audit?limit=2").json
    assert len(all_["events"]) == 2
    nxt = root("GET", f"audit?after={all_['next']}&limit=1000").json["events"]
    assert nxt and nxt[0]["seq"] > all_["events"][-1]["seq"]
    assert root("GET", "audit?limit=0").status == 400
    assert root("GET", "audit?after=-1").status == 400


def test_methods_and_head(api):
    s = api.session("alice")
    r = s("PATCH", "me")
    assert r.status == 405 and "GET" in r.header("allow")
    r = s("HEAD", "me")
    assert r.status == 200 and r.raw == b""


def test_integrations_kill_switch_and_links_routes(api):
    """The operator's kill switch over HTTP (admins only, audited, reversible,
    per camera model) and a user's own links (another user's link answers as
    one that does not exist). The OAuth flow that makes links is
    test_link.py's."""
    srv = api.srv
    added = json.loads(srv.cli("integration", "add", "display", "--redirect-uri", "https://p.example/cb").stdout)
    root, alice = api.session("root"), api.session("alice")
    r = alice("GET", "integrations")
    assert r.status == 403, r
    r = alice("POST", f"integrations/{added['id']}/disable", {})
    assert r.status == 403, r
    r = root("GET", "integrations")
    assert r.status == 200 and [i["name"] for i in r.json["integrations"]] == ["display"], r
    assert "client_secret" not in r.raw.decode() and added["client_secret"] not in r.raw.decode()
    r = root("POST", f"integrations/{added['id']}/disable", {"camera_model": "CamPro 2"})
    assert r.status == 200 and r.json["disabled_models"] == ["CamPro 2"] and not r.json["disabled"], r
    r = root("POST", f"integrations/{added['id']}/disable")
    assert r.status == 200 and r.json["disabled"], r
    r = root("POST", f"integrations/{added['id']}/enable")
    assert r.status == 200 and not r.json["disabled"] and r.json["disabled_models"] == [], r
    r = root("POST", f"integrations/{RANDOM_ID}/disable", {})
    assert r.status == 404, r
    r = root("POST", f"integrations/{added['id']}/disable", {"camera_model": ""})
    assert r.status == 400, r
    # cookie sessions need the CSRF header for the switch too
    r = api.request("POST", f"integrations/{added['id']}/disable", {}, root.cookie(csrf=False))
    assert r.status == 403, r
    events = [e for e in json.loads(srv.cli("audit").stdout) if e["event"].startswith("integration.")]
    assert [e["event"] for e in events] == ["integration.add", "integration.disable", "integration.disable",
                                            "integration.enable"], events
    assert all(e["principal"] == "user:root" for e in events[1:]), events

    assert alice("GET", "me/links").json == {"links": []}
    r = alice("DELETE", f"me/links/{RANDOM_ID}")
    assert r.status == 404, r
    r = alice("DELETE", "me/links/not-an-id")
    assert r.status == 404, r


# ------------------------------------------------------------ for the web app

def test_camera_status_role_and_shared(api, procs):
    """GET /cameras and /cameras/{id} carry online, last_seen, the caller's
    role and, for the home's owners and members, how many live guest grants
    the camera has."""
    alice, mallory, root = api.session("alice"), api.session("mallory"), api.session("root")
    home, cam = home_with_camera(alice)
    c = alice("GET", f"cameras/{cam['id']}").json
    assert (c["online"], c["last_seen"], c["shared"], c["role"]) == (False, None, 0, "owner"), c
    assert cam["online"] is False and cam["role"] == "owner"
    push_camera(procs, make_clip("h264_only"), cam["ingest_url"])
    wait_live(api.srv, cam["id"])
    wait_for(lambda: alice("GET", f"cameras/{cam['id']}").json["last_seen"], 10, "a frame from the camera")
    c = alice("GET", f"cameras/{cam['id']}").json
    assert c["online"] is True, c
    assert isinstance(c["last_seen"], int) and abs(c["last_seen"] - time.time()) < 30, c
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "viewer"}).status == 200
    carol_pw = root("POST", "users", {"login": "carol"}).json["password"]
    assert alice("POST", f"cameras/{cam['id']}/grants",
                 {"login": "carol", "scopes": ["live"], "expires_in": 600}).status == 201
    carol = api.session("carol", carol_pw)
    seen = {who: s("GET", "cameras").json["cameras"][0] for who, s in
            (("alice", alice), ("mallory", mallory), ("carol", carol), ("root", root))}
    assert {w: (v["role"], v["shared"]) for w, v in seen.items()} == {
        "alice": ("owner", 1), "mallory": ("viewer", 0), "carol": ("guest", 0), "root": ("admin", 1)}
    assert all(v["online"] for v in seen.values())


def test_camera_rename(api):
    alice, mallory = api.session("alice"), api.session("mallory")
    home, cam = home_with_camera(alice)
    other = alice("POST", f"homes/{home['id']}/cameras", {"name": "garden"}).json
    r = alice("PATCH", f"cameras/{cam['id']}", {"name": "front door"})
    assert r.status == 200 and r.json["name"] == "front door" and r.json["id"] == cam["id"], r
    assert "ingest_url" not in r.json and r.json["role"] == "owner"
    assert alice("GET", f"cameras/{cam['id']}").json["name"] == "front door"
    assert alice("PATCH", f"cameras/{cam['id']}", {"name": "garden"}).status == 409
    assert alice("PATCH", f"cameras/{cam['id']}", {"name": ""}).status == 400
    assert alice("PATCH", f"cameras/{cam['id']}", {"name": "a\u0007b"}).status == 400
    assert alice("PATCH", f"cameras/{cam['id']}", {"name": "x" * 128}).status == 400
    assert alice("PATCH", f"cameras/{cam['id']}", {}).status == 400
    # Not a member, a viewer, a random id: 403 alike.
    assert mallory("PATCH", f"cameras/{cam['id']}", {"name": "mine"}).status == 403
    assert mallory("PATCH", f"cameras/{RANDOM_ID}", {"name": "mine"}).status == 403
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "viewer"}).status == 200
    assert mallory("PATCH", f"cameras/{cam['id']}", {"name": "mine"}).status == 403
    # A member may.
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "member"}).status == 200
    r = mallory("PATCH", f"cameras/{other['id']}", {"name": "back garden"})
    assert r.status == 200 and r.json["role"] == "member", r
    ev = [e for e in alice("GET", f"audit?camera={cam['id']}").json["events"] if e["event"] == "camera.rename"]
    assert len(ev) == 1 and ev[0]["principal"] == "user:alice", ev
    assert ev[0]["detail"] == "camera porch renamed to front door", ev


def test_home_grants(api):
    alice, mallory, root = api.session("alice"), api.session("mallory"), api.session("root")
    home, cam = home_with_camera(alice)
    cam2 = alice("POST", f"homes/{home['id']}/cameras", {"name": "garden"}).json
    root("POST", "users", {"login": "carol"})
    root("POST", "users", {"login": "dave"})
    g1 = alice("POST", f"cameras/{cam['id']}/grants", {"login": "carol", "scopes": ["live"], "expires_in": 600})
    g2 = alice("POST", f"cameras/{cam2['id']}/grants",
               {"login": "dave", "scopes": ["live", "snapshot"], "expires_in": 900})
    short = alice("POST", f"cameras/{cam2['id']}/grants", {"login": "carol", "scopes": ["live"], "expires_in": 1})
    assert g1.status == g2.status == short.status == 201
    # Another home's grants stay out.
    _, elsewhere = home_with_camera(alice, name="cabin", camera="shed")
    assert alice("POST", f"cameras/{elsewhere['id']}/grants",
                 {"login": "dave", "scopes": ["live"], "expires_in": 600}).status == 201
    time.sleep(1.5)
    r = alice("GET", f"homes/{home['id']}/grants")
    assert r.status == 200, r
    grants = r.json["grants"]
    assert [g["id"] for g in grants] == [g2.json["id"], g1.json["id"]], grants  # newest first, live only
    assert grants[0]["camera"] == {"id": cam2["id"], "name": "garden"}
    assert grants[1]["camera"] == {"id": cam["id"], "name": "porch"}
    assert grants[0]["login"] == "dave" and grants[0]["scopes"] == ["live", "snapshot"]
    assert set(grants[0]) >= {"id", "user", "login", "scopes", "expires", "expired", "created", "camera"}
    assert root("GET", f"homes/{home['id']}/grants").status == 200
    assert mallory("GET", f"homes/{home['id']}/grants").status == 403
    assert mallory("GET", f"homes/{RANDOM_ID}/grants").status == 403
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "viewer"}).status == 200
    assert mallory("GET", f"homes/{home['id']}/grants").status == 403
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "member"}).status == 200
    assert len(mallory("GET", f"homes/{home['id']}/grants").json["grants"]) == 2


def test_audit_filters_home_and_person(api):
    alice, mallory, root = api.session("alice"), api.session("mallory"), api.session("root")
    home, cam = home_with_camera(alice)
    _, other_cam = home_with_camera(mallory, name="flat", camera="hall")
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "viewer"}).status == 200
    assert api.login("mallory", "wrong-password").status == 401
    assert api.login("root", "wrong-password").status == 401
    r = alice("GET", f"audit?home={home['id']}&limit=1000")
    assert r.status == 200, r
    evs = r.json["events"]
    kinds = [(e["event"], e["principal"]) for e in evs]
    assert ("camera.add", "user:alice") in kinds and ("login.fail", "user:mallory") in kinds, kinds
    assert ("login.fail", "user:root") not in kinds  # not a member
    assert all(e["camera"] in (None, cam["id"]) for e in evs), evs  # not mallory's own home's camera
    assert other_cam["id"] not in r.raw.decode()
    # person= narrows to that user's events, "user:<login> via ..." included.
    r = alice("GET", f"audit?home={home['id']}&person=mallory&limit=1000")
    assert r.status == 200 and r.json["events"], r
    assert all(e["principal"] == "user:mallory" or e["principal"].startswith("user:mallory via ")
               for e in r.json["events"]), r
    # Combined with camera=.
    r = alice("GET", f"audit?camera={cam['id']}&person=alice")
    assert [e["event"] for e in r.json["events"]] == ["camera.add"], r
    assert alice("GET", f"audit?camera={cam['id']}&person=mallory").json["events"] == []
    # Paging keeps working.
    first = alice("GET", f"audit?home={home['id']}&limit=1").json
    assert len(first["events"]) == 1 and first["next"] == first["events"][0]["seq"]
    rest = alice("GET", f"audit?home={home['id']}&after={first['next']}&limit=1000").json["events"]
    assert [e["seq"] for e in rest] == [e["seq"] for e in evs[1:]]
    # Who may: owners of the home (viewers, strangers, random ids: 403); person alone: admins.
    assert mallory("GET", f"audit?home={home['id']}").status == 403
    assert alice("GET", f"audit?home={RANDOM_ID}").status == 403
    assert alice("GET", "audit?person=alice").status == 403
    assert alice("GET", f"audit?home={home['id']}&person=").status == 400
    r = root("GET", "audit?person=mallory&limit=1000")
    assert r.status == 200 and {e["principal"] for e in r.json["events"]} == {"user:mallory"}, r


def test_camera_test_before_adding(api, procs):
    """POST /homes/{id}/cameras/test connects once and says what it found, or
    why not, in a sentence; never with the password in the log."""
    import socket
    from conftest import RTSP_CAMERA, free_port
    alice, mallory = api.session("alice"), api.session("mallory")
    home, _ = home_with_camera(alice)
    path = f"homes/{home['id']}/cameras/test"
    port = free_port()
    cam = procs([str(RTSP_CAMERA), "--port", str(port), "--auth", "digest", "--user", "admin",
                 "--pass", "s3cret-Pw", "--audio", "aac"])
    m = wait_for(lambda: re.search(r"listening on (rtsp://\S+)", cam.text()), 20, "the RTSP camera to listen")
    url = m.group(1)
    good = url.replace("rtsp://", "rtsp://admin:s3cret-Pw@")
    r = alice("POST", path, {"pull_url": good, "transport": "tcp"})
    assert r.status == 200, r
    assert r.json == {"ok": True, "video": {"codec": "H264", "width": 640, "height": 360},
                      "audio": {"codec": "AAC"}}, r
    r = alice("POST", path, {"pull_url": url.replace("rtsp://", "rtsp://admin:Wr0ng-Pw@")})
    assert r.status == 200 and r.json == {"ok": False, "error": "authentication failed (401)"}, r
    r = alice("POST", path, {"pull_url": f"rtsp://127.0.0.1:{free_port()}/x"})
    assert r.status == 200 and r.json == {"ok": False, "error": "connection refused"}, r
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        t0 = time.monotonic()
        r = alice("POST", path, {"pull_url": f"rtsp://u:p@127.0.0.1:{silent.getsockname()[1]}/x"})
        took = time.monotonic() - t0
    assert r.status == 200 and r.json == {"ok": False, "error": "timed out"}, r
    assert took < 10.5 * SLOW, took
    # Bad input, who may.
    assert alice("POST", path, {"pull_url": "http://example.com/x"}).status == 400
    assert alice("POST", path, {"pull_url": good, "transport": "carrier-pigeon"}).status == 400
    assert alice("POST", path, {}).status == 400
    assert mallory("POST", path, {"pull_url": good}).status == 403
    assert mallory("POST", f"homes/{RANDOM_ID}/cameras/test", {"pull_url": good}).status == 403
    assert alice("PUT", f"homes/{home['id']}/members/mallory", {"role": "viewer"}).status == 200
    assert mallory("POST", path, {"pull_url": good}).status == 403
    # Nothing was added; no password reached the log.
    assert [c["name"] for c in alice("GET", "cameras").json["cameras"]] == ["porch"]
    log = api.srv.log()
    assert "s3cret-Pw" not in log and "Wr0ng-Pw" not in log and "u:p@" not in log


def test_camera_test_when_the_server_stops_first(api):
    """A test still connecting when the server stops is answered (503) or its
    connection closes; the server exits cleanly either way."""
    import socket
    import threading
    alice = api.session("alice")
    home, _ = home_with_camera(alice)
    out = {}
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)

        def probe():
            try:
                out["r"] = alice("POST", f"homes/{home['id']}/cameras/test",
                                 {"pull_url": f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x"})
            except (OSError, http.client.HTTPException) as e:
                out["e"] = e

        t = threading.Thread(target=probe)
        t.start()
        wait_for(lambda: api.srv.find(r"connecting to rtsp://127\.0\.0\.1"), 10 * SLOW, "the test to connect")
        api.srv.stop()  # asserts a clean exit with no sanitizer report
        t.join(30 * SLOW)
    assert not t.is_alive()
    assert "e" in out or out["r"].status == 503, out


def test_me_returns_csrf_to_cookie_sessions_only(api):
    """A reloaded page recovers its CSRF value from GET /me (cookie sessions
    only; a bearer caller needs none), and it is the one login gave."""
    s = api.session("alice")
    r = api.request("GET", "me", headers=s.cookie(csrf=False))
    assert r.status == 200 and r.json["csrf"] == s.csrf, r
    r = s("GET", "me")
    assert r.status == 200 and "csrf" not in r.json, r
    r = api.request("GET", "me", headers={"Cookie": "cv_session=bogus"})
    assert r.status == 401, r
