"""A conformance client that plays the partner platform (a smart display's
cloud, a voice assistant's cloud) against camvault, written from the
protocol documents rather than from camvault's code:

  RFC 6749  OAuth 2.0 authorization code grant (§4.1), client authentication
            (§2.3.1: HTTP Basic or client_id/client_secret in the body),
            token errors (§5.2), refresh (§6)
  RFC 7636  PKCE: a 43..128 character verifier of unreserved characters,
            challenge = BASE64URL(SHA256(verifier)) without padding (S256)
  RFC 7009  token revocation (200 also for unknown tokens)
  Google cloud-to-cloud smart home: SYNC, QUERY, EXECUTE
            (action.devices.commands.GetCameraStream), DISCONNECT
  Alexa smart home: Alexa.Discovery Discover,
            Alexa.CameraStreamController InitializeCameraStreams

stdlib only. Requests never follow redirects (the partner inspects them).
Validators raise AssertionError with the offending document in the message.

    verifier, challenge = pkce_pair()
    with CallbackServer() as cb:                  # the partner's redirect_uri
        p = Partner(base, client_id, secret, cb.url)
        req = p.authorization_request()           # state, verifier, URL
        ... consent (http_consent or playwright_consent) ...
        tokens = check_token_response(p.exchange(code, req.verifier))
        check_sync(p.google(tokens["access_token"], google_sync()), ...)
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import secrets
import ssl
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

HERE = Path(__file__).resolve().parent
CONSENT_SCRIPT = HERE.parent / "browser" / "link-consent.mjs"

# RFC 7636 §4.1: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

GOOGLE_CAMERA = "action.devices.types.CAMERA"
GOOGLE_CAMERA_STREAM = "action.devices.traits.CameraStream"
GOOGLE_GET_STREAM = "action.devices.commands.GetCameraStream"
GOOGLE_PROTOCOLS = {"hls", "dash", "smooth_stream", "progressive_mp4", "webrtc"}
GOOGLE_ERROR_CODES = {"authFailure", "deviceNotFound", "deviceOffline", "notSupported", "streamUnavailable",
                      "functionNotSupported", "protocolError", "transientError", "unknownError"}
ALEXA_ERROR_TYPES = {"INVALID_AUTHORIZATION_CREDENTIAL", "EXPIRED_AUTHORIZATION_CREDENTIAL", "NO_SUCH_ENDPOINT",
                     "ENDPOINT_UNREACHABLE", "INVALID_DIRECTIVE", "INTERNAL_ERROR", "INVALID_VALUE",
                     "NOT_SUPPORTED_IN_CURRENT_MODE", "BRIDGE_UNREACHABLE", "ENDPOINT_BUSY"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------------------
# PKCE (RFC 7636)

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier):
    """code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) (§4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def pkce_pair(length=64):
    """(verifier, S256 challenge); the verifier is `length` (43..128) unreserved characters."""
    if not 43 <= length <= 128:
        raise ValueError("RFC 7636 §4.1: a code verifier has 43 to 128 characters")
    if length == 43:  # §4.1's recommended construction: 32 random octets, base64url
        verifier = b64url(os.urandom(32))
    else:
        verifier = "".join(secrets.choice(UNRESERVED) for _ in range(length))
    assert VERIFIER_RE.match(verifier)
    return verifier, s256(verifier)


# RFC 7636 Appendix B: the 32 octets 116, 24, 223, ... 121 give this verifier and challenge.
RFC7636_B_OCTETS = bytes([116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
                          105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121])
assert b64url(RFC7636_B_OCTETS) == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


# ---------------------------------------------------------------------------
# HTTP

class Resp:
    def __init__(self, status, headers, raw, elapsed):
        self.status = status
        self.headers = headers  # [(lowercased name, value)]
        self.raw = raw
        self.elapsed = elapsed  # seconds from sending to the whole body
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        return next((v for k, v in self.headers if k == name.lower()), None)

    def __repr__(self):
        return f"<HTTP {self.status} {self.raw[:600]!r}>"


def insecure_tls():
    """The test server's certificate is self-signed for localhost."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(method, url, body=None, headers=None, timeout=30):
    """One request, one connection, no redirect following. body: bytes, str, or
    a dict (sent as JSON unless a Content-Type header says otherwise)."""
    u = urlsplit(url)
    h = dict(headers or {})
    data = body
    if isinstance(body, (dict, list)):
        ctype = h.get("Content-Type", "application/json")
        h["Content-Type"] = ctype
        data = urlencode(body).encode() if ctype.startswith("application/x-www-form-urlencoded") else json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    if u.scheme == "https":
        c = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout, context=insecure_tls())
    else:
        c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    t0 = time.monotonic()
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        return Resp(r.status, [(k.lower(), v) for k, v in r.getheaders()], raw, time.monotonic() - t0)
    finally:
        c.close()


def query_of(url):
    """The query of a URL as a dict of single values (repeated keys: assertion)."""
    q = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for k, v in q.items():
        assert len(v) == 1, f"parameter {k} repeated in {url}"
    return {k: v[0] for k, v in q.items()}


def without_query(url):
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}{u.path}"


# ---------------------------------------------------------------------------
# The partner's redirect_uri

class CallbackServer:
    """A tiny HTTP server on 127.0.0.1:0 standing for the partner's OAuth
    redirect endpoint; every request's path and query is recorded."""

    def __init__(self, path="/cb"):
        self.path = path
        self.hits = []  # (path, {param: value})
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                u = urlsplit(self.path)
                with outer.cond:
                    outer.hits.append((u.path, {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}))
                    outer.cond.notify_all()
                body = b"<!doctype html><title>partner</title><p>linked</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait(self, state, timeout=10):
        """The query the redirect carried for this state."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for path, q in self.hits:
                    if q.get("state") == state:
                        return q
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no redirect with state {state} reached the callback; got {self.hits}")
                self.cond.wait(left)


# ---------------------------------------------------------------------------
# The partner

class AuthorizationRequest:
    """One authorization attempt: state, PKCE pair and the authorize URL."""

    def __init__(self, partner, redirect_uri="", state=None, verifier_length=64, **overrides):
        """redirect_uri: "" for the partner's own; None leaves the parameter out.
        overrides: other parameters to change (None leaves them out)."""
        self.verifier, self.challenge = pkce_pair(verifier_length)
        self.state = state or b64url(os.urandom(16))
        self.redirect_uri = partner.redirect_uri if redirect_uri == "" else redirect_uri
        self.params = {"response_type": "code", "client_id": partner.client_id, "redirect_uri": self.redirect_uri,
                       "state": self.state, "code_challenge": self.challenge, "code_challenge_method": "S256"}
        if self.redirect_uri is None:
            del self.params["redirect_uri"]
        for k, v in overrides.items():
            if v is None:
                self.params.pop(k, None)
            else:
                self.params[k] = v
        self.url = f"{partner.base}/oauth/authorize?{urlencode(self.params)}"


class Partner:
    """A partner platform's cloud: client credentials, redirect_uri, and the
    calls it makes to camvault. auth: "basic" (client_secret_basic) or "post"."""

    def __init__(self, base, client_id, client_secret, redirect_uri, auth="basic"):
        self.base = base.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.auth = auth

    # -- authorization endpoint (RFC 6749 §4.1.1)
    def authorization_request(self, **kw):
        return AuthorizationRequest(self, **kw)

    def get_authorize(self, req_or_url):
        url = req_or_url.url if isinstance(req_or_url, AuthorizationRequest) else req_or_url
        return request("GET", url)

    # -- the user's side, without a browser
    def login(self, login, password, totp=None):
        body = {"login": login, "password": password}
        if totp is not None:
            body["totp"] = totp
        return request("POST", f"{self.base}/api/v1/login", body)

    def http_consent(self, session, areq, decision="allow"):
        """What the consent page does: GET /oauth/consent (cookie), then POST
        the decision (cookie + X-CSRF-Token). session = {"session", "csrf"}.
        Returns (consent document, redirect URL)."""
        cookie = {"Cookie": "cv_session=" + session["session"]}
        r = request("GET", f"{self.base}/oauth/consent?{urlencode(areq.params)}", headers=cookie)
        assert r.status == 200, f"GET /oauth/consent: {r}"
        doc = check_consent_document(r, self.client_id)
        body = {k: areq.params.get(k) for k in ("client_id", "redirect_uri", "state", "code_challenge",
                                                "code_challenge_method")}
        body["decision"] = decision
        h = dict(cookie)
        h["X-CSRF-Token"] = doc.get("csrf") or session["csrf"]
        h["Content-Type"] = "application/json"
        r = request("POST", f"{self.base}/oauth/consent", body, headers=h)
        assert r.status == 200 and isinstance(r.json, dict) and isinstance(r.json.get("redirect"), str), \
            f"POST /oauth/consent: {r}"
        return doc, r.json["redirect"]

    # -- token endpoint (RFC 6749 §3.2, §4.1.3, §6)
    def _client_auth(self, form, headers, auth):
        auth = auth or self.auth
        if auth == "basic":  # §2.3.1: form-urlencode id and secret, then Basic
            from urllib.parse import quote_plus
            cred = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        elif auth == "post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        elif auth == "none":
            form["client_id"] = self.client_id
        else:
            raise ValueError(auth)

    def token(self, form, auth=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        form = {k: v for k, v in form.items() if v is not None}
        self._client_auth(form, headers, auth)
        return request("POST", f"{self.base}/oauth/token", urlencode(form), headers=headers)

    def exchange(self, code, verifier, redirect_uri="default", auth=None, **extra):
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": self.redirect_uri if redirect_uri == "default" else redirect_uri}
        form.update(extra)
        return self.token(form, auth)

    def refresh(self, refresh_token, auth=None):
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token}, auth)

    def revoke(self, token, hint=None, auth=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        form = {"token": token}
        if hint:
            form["token_type_hint"] = hint
        self._client_auth(form, headers, auth)
        return request("POST", f"{self.base}/oauth/revoke", urlencode(form), headers=headers)

    # -- fulfillment
    def google(self, access_token, body, raw=None):
        h = {"Content-Type": "application/json"}
        if access_token is not None:
            h["Authorization"] = "Bearer " + access_token
        return request("POST", f"{self.base}/fulfill/google", raw if raw is not None else body, headers=h)

    def alexa(self, body, raw=None):
        return request("POST", f"{self.base}/fulfill/alexa", raw if raw is not None else body,
                       headers={"Content-Type": "application/json"})


# ---------------------------------------------------------------------------
# Google smart home intents (each with a fresh requestId)

def _google(intent, payload=None):
    inp = {"intent": intent}
    if payload is not None:
        inp["payload"] = payload
    return {"requestId": str(uuid.uuid4()), "inputs": [inp]}


def google_sync():
    return _google("action.devices.SYNC")


def google_query(ids):
    return _google("action.devices.QUERY", {"devices": [{"id": i} for i in ids]})


def google_execute(ids, protocols=("hls",), to_chromecast=True, command=GOOGLE_GET_STREAM, params=None):
    if params is None:
        params = {"StreamToChromecast": to_chromecast, "SupportedStreamProtocols": list(protocols)}
    return _google("action.devices.EXECUTE", {"commands": [{"devices": [{"id": i} for i in ids],
                                                           "execution": [{"command": command, "params": params}]}]})


def google_disconnect():
    return _google("action.devices.DISCONNECT")


# ---------------------------------------------------------------------------
# Alexa directives

def _alexa_header(namespace, name, correlation=True):
    h = {"namespace": namespace, "name": name, "payloadVersion": "3", "messageId": str(uuid.uuid4())}
    if correlation:
        h["correlationToken"] = b64url(os.urandom(24))
    return h


def alexa_discover(token):
    return {"directive": {"header": _alexa_header("Alexa.Discovery", "Discover", correlation=False),
                          "payload": {"scope": {"type": "BearerToken", "token": token}}}}


def alexa_initialize(token, endpoint_id, streams=None):
    if streams is None:
        streams = [{"protocol": "RTSP", "resolution": {"width": 1280, "height": 720}, "authorizationType": "NONE",
                    "videoCodec": "H264", "audioCodec": "AAC"},
                   {"protocol": "RTSP", "resolution": {"width": 640, "height": 480}, "authorizationType": "NONE",
                    "videoCodec": "H264", "audioCodec": "NONE"}]
    return {"directive": {"header": _alexa_header("Alexa.CameraStreamController", "InitializeCameraStreams"),
                          "endpoint": {"endpointId": endpoint_id, "scope": {"type": "BearerToken", "token": token},
                                       "cookie": {}},
                          "payload": {"cameraStreams": streams}}}


# ---------------------------------------------------------------------------
# Validators

def _need(cond, msg, doc):
    if not cond:
        text = doc if isinstance(doc, str) else json.dumps(doc, indent=None)[:2000]
        raise AssertionError(f"{msg}: {text}")


def _type(doc, key, typ, where):
    _need(isinstance(doc, dict) and key in doc, f"{where}: missing {key!r}", doc)
    _need(isinstance(doc[key], typ) and not (typ is int and isinstance(doc[key], bool)),
          f"{where}: {key!r} is not {getattr(typ, '__name__', typ)}", doc)
    return doc[key]


def check_consent_document(r, client_id=None):
    d = r.json
    _need(isinstance(d, dict), "consent: not a JSON object", r.raw.decode(errors="replace"))
    _type(d, "partner", str, "consent")
    _type(d, "csrf", str, "consent")
    if client_id is not None:
        _need(d.get("client_id") == client_id, "consent: client_id differs", d)
    for h in _type(d, "homes", list, "consent"):
        _type(h, "id", str, "consent home")
        _type(h, "name", str, "consent home")
        for c in _type(h, "cameras", list, "consent home"):
            _need(HEX32.match(_type(c, "id", str, "consent camera")), "consent: camera id not 32 hex", c)
            _type(c, "name", str, "consent camera")
    return d


def consent_cameras(doc):
    return {c["id"] for h in doc["homes"] for c in h["cameras"]}


def check_authorize_error_page(r):
    """§4.1.2.1: a bad client_id or redirect_uri is shown to the user, never redirected to."""
    _need(r.status == 400, f"authorize: status {r.status}, expected 400", r.raw.decode(errors="replace"))
    _need(r.header("location") is None, f"authorize: redirected to {r.header('location')}", "")
    _need((r.header("content-type") or "").startswith("text/html"), "authorize error: not an HTML page",
          r.header("content-type") or "")


def check_authorize_redirect_error(r, redirect_uri, state, error):
    """§4.1.2.1: error=... and the same state, at the registered redirect_uri."""
    _need(r.status in (302, 303), f"authorize: status {r.status}, expected a redirect", r.raw.decode(errors="replace"))
    loc = r.header("location")
    _need(loc and without_query(loc) == redirect_uri, f"authorize: redirected to {loc}", "")
    q = query_of(loc)
    _need(q.get("error") == error, f"authorize: error {q.get('error')}, expected {error}", loc)
    _need(q.get("state") == state, "authorize: state not echoed", loc)
    _need("code" not in q, "authorize: a code with an error", loc)
    return q


def check_code_redirect(url, redirect_uri, state):
    """§4.1.2: redirect_uri?code=...&state=... (state exactly as sent)."""
    _need(without_query(url) == redirect_uri, f"redirect goes to {without_query(url)}, not {redirect_uri}", url)
    q = query_of(url)
    _need("error" not in q, f"redirect carries error={q.get('error')}", url)
    _need(q.get("state") == state, "redirect: state not echoed", url)
    _need(isinstance(q.get("code"), str) and len(q["code"]) >= 16, "redirect: no usable code", url)
    return q["code"]


def check_token_response(r, refresh=True):
    """§5.1: 200, JSON, access_token, token_type Bearer, expires_in, refresh_token; no-store."""
    _need(r.status == 200, f"token: status {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    _need(isinstance(d, dict), "token: not JSON", r.raw.decode(errors="replace"))
    _need(len(_type(d, "access_token", str, "token")) >= 16, "token: short access_token", d)
    _need(_type(d, "token_type", str, "token").lower() == "bearer", "token: token_type is not Bearer", d)
    _need(_type(d, "expires_in", int, "token") > 0, "token: expires_in not positive", d)
    if refresh:
        _need(len(_type(d, "refresh_token", str, "token")) >= 16, "token: short refresh_token", d)
        _need(d["refresh_token"] != d["access_token"], "token: refresh == access", d)
    _need("no-store" in (r.header("cache-control") or ""), "token: Cache-Control lacks no-store (§5.1)",
          r.header("cache-control") or "")
    _need((r.header("content-type") or "").startswith("application/json"), "token: not application/json",
          r.header("content-type") or "")
    return d


def check_oauth_error(r, error, status=None):
    """§5.2: status 400 (401 for invalid_client with Basic), JSON {error}."""
    want = status or (401 if error == "invalid_client" else 400)
    _need(r.status == want, f"expected HTTP {want} {error}, got {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    _need(isinstance(d, dict) and d.get("error") == error, f"expected error {error}", r.raw.decode(errors="replace"))
    _need("access_token" not in d, "an error that carries a token", d)
    return d


def check_sync(r, expect_ids=None):
    _need(r.status == 200, f"SYNC: HTTP {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    _type(d, "requestId", str, "SYNC")
    p = _type(d, "payload", dict, "SYNC")
    _need("errorCode" not in p, "SYNC: error", d)
    _need(_type(p, "agentUserId", str, "SYNC payload"), "SYNC: empty agentUserId", d)
    devices = _type(p, "devices", list, "SYNC payload")
    ids = []
    for dev in devices:
        ids.append(_type(dev, "id", str, "SYNC device"))
        _need(HEX32.match(dev["id"]), "SYNC: device id not 32 hex", dev)
        _need(dev.get("type") == GOOGLE_CAMERA, "SYNC: type is not CAMERA", dev)
        _need(GOOGLE_CAMERA_STREAM in _type(dev, "traits", list, "SYNC device"), "SYNC: no CameraStream trait", dev)
        _need(isinstance(_type(dev, "name", dict, "SYNC device").get("name"), str), "SYNC: name.name", dev)
        _type(dev, "willReportState", bool, "SYNC device")
        a = _type(dev, "attributes", dict, "SYNC device")
        protos = _type(a, "cameraStreamSupportedProtocols", list, "SYNC attributes")
        _need(protos and set(protos) <= GOOGLE_PROTOCOLS, "SYNC: unknown stream protocol", a)
        _need({"hls", "progressive_mp4"} <= set(protos), "SYNC: hls and progressive_mp4 expected", a)
        _need(_type(a, "cameraStreamNeedAuthToken", bool, "SYNC attributes") is False,
              "SYNC: the URL itself carries the capability", a)
    _need(len(ids) == len(set(ids)), "SYNC: duplicate device ids", d)
    if expect_ids is not None:
        _need(set(ids) == set(expect_ids), f"SYNC: devices {sorted(ids)} are not {sorted(expect_ids)}", d)
    return d


def check_request_id(r, body):
    _need(r.json.get("requestId") == body["requestId"], "requestId not echoed", r.json)


def check_query(r, body=None):
    """{id: {online, status}} per device; returns that dict."""
    _need(r.status == 200, f"QUERY: HTTP {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    if body:
        check_request_id(r, body)
    p = _type(d, "payload", dict, "QUERY")
    devs = _type(p, "devices", dict, "QUERY payload")
    if body:
        want = {x["id"] for x in body["inputs"][0]["payload"]["devices"]}
        _need(set(devs) == want, "QUERY: answered devices differ from those asked", d)
    for i, st in devs.items():
        _need(isinstance(st, dict), "QUERY: device state not an object", d)
        _need(st.get("status") in ("SUCCESS", "OFFLINE", "EXCEPTIONS", "ERROR"), "QUERY: bad status", st)
        if st["status"] == "ERROR":
            _need(st.get("errorCode") in GOOGLE_ERROR_CODES, "QUERY: bad errorCode", st)
        else:
            _type(st, "online", bool, "QUERY device")
    return devs


def check_execute(r, body=None):
    """payload.commands[] well formed; returns {device id: command result}."""
    _need(r.status == 200, f"EXECUTE: HTTP {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    if body:
        check_request_id(r, body)
    p = _type(d, "payload", dict, "EXECUTE")
    _need("errorCode" not in p, f"EXECUTE: payload error {p.get('errorCode')}", d)
    out = {}
    for c in _type(p, "commands", list, "EXECUTE payload"):
        ids = _type(c, "ids", list, "EXECUTE command")
        st = _type(c, "status", str, "EXECUTE command")
        _need(st in ("SUCCESS", "PENDING", "OFFLINE", "EXCEPTIONS", "ERROR"), "EXECUTE: bad status", c)
        if st == "ERROR":
            _need(_type(c, "errorCode", str, "EXECUTE command") in GOOGLE_ERROR_CODES, "EXECUTE: bad errorCode", c)
        for i in ids:
            _need(i not in out, f"EXECUTE: {i} answered twice", d)
            out[i] = c
    if body:
        want = {x["id"] for cmd in body["inputs"][0]["payload"]["commands"] for x in cmd["devices"]}
        _need(set(out) == want, "EXECUTE: answered ids differ from those asked", d)
    return out


def check_stream_result(cmd, camera_id, protocol, base):
    """A GetCameraStream SUCCESS: the access URL for this camera, at the base, with a token."""
    _need(cmd.get("status") == "SUCCESS", f"GetCameraStream for {camera_id} failed", cmd)
    st = _type(cmd, "states", dict, "EXECUTE command")
    _need(st.get("online") is True, "GetCameraStream: states.online", cmd)
    url = _type(st, "cameraStreamAccessUrl", str, "EXECUTE states")
    _need(st.get("cameraStreamProtocol") == protocol, f"GetCameraStream: protocol is not {protocol}", cmd)
    path = {"hls": "index.m3u8", "progressive_mp4": "live.mp4"}[protocol]
    _need(url.startswith(f"{base}/cam/{camera_id}/{path}?"), f"GetCameraStream: URL not {base}/cam/{camera_id}/{path}",
          url)
    _need(query_of(url).get("token"), "GetCameraStream: no token in the URL", url)
    return url


def check_google_error(r, code, status=200, level="payload"):
    """An intent-level error: HTTP status and payload.errorCode (with status ERROR
    when the contract says so). level="command": every command answered ERROR code."""
    _need(r.status == status, f"expected HTTP {status} {code}, got {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    _need(isinstance(d, dict) and isinstance(d.get("payload"), dict), "Google error: no payload",
          r.raw.decode(errors="replace"))
    if level == "payload":
        _need(d["payload"].get("errorCode") == code, f"expected payload.errorCode {code}", d)
    else:
        cmds = d["payload"].get("commands")
        _need(isinstance(cmds, list) and cmds, "no commands", d)
        for c in cmds:
            _need(c.get("status") == "ERROR" and c.get("errorCode") == code, f"expected command error {code}", d)
            _need("states" not in c or "cameraStreamAccessUrl" not in c.get("states", {}), "error with a URL", d)
    return d


def _alexa_event(r, where):
    _need(r.status == 200, f"{where}: HTTP {r.status}", r.raw.decode(errors="replace"))
    d = r.json
    ev = _type(d, "event", dict, where)
    h = _type(ev, "header", dict, where + " event")
    _type(h, "namespace", str, where + " header")
    _type(h, "name", str, where + " header")
    _need(h.get("payloadVersion") == "3", f"{where}: payloadVersion is not \"3\"", d)
    _type(h, "messageId", str, where + " header")
    _type(ev, "payload", dict, where + " event")
    return ev


def check_discover(r, expect_ids=None):
    ev = _alexa_event(r, "Discover")
    h = ev["header"]
    _need(h["namespace"] == "Alexa.Discovery" and h["name"] == "Discover.Response", "Discover: header", ev)
    eps = _type(ev["payload"], "endpoints", list, "Discover payload")
    ids = []
    for e in eps:
        ids.append(_type(e, "endpointId", str, "endpoint"))
        _need(HEX32.match(e["endpointId"]), "endpointId not 32 hex", e)
        _type(e, "friendlyName", str, "endpoint")
        _type(e, "manufacturerName", str, "endpoint")
        _type(e, "description", str, "endpoint")
        _need("CAMERA" in _type(e, "displayCategories", list, "endpoint"), "displayCategories lacks CAMERA", e)
        caps = _type(e, "capabilities", list, "endpoint")
        names = {c.get("interface") for c in caps if isinstance(c, dict)}
        _need("Alexa.CameraStreamController" in names, "no Alexa.CameraStreamController capability", e)
        for c in caps:
            _need(c.get("type") == "AlexaInterface" and isinstance(c.get("version"), str), "capability shape", c)
            if c.get("interface") == "Alexa.CameraStreamController":
                confs = _type(c, "cameraStreamConfigurations", list, "CameraStreamController")
                _need(confs and all("RTSP" in x.get("protocols", []) for x in confs), "no RTSP configuration", c)
    _need(len(ids) == len(set(ids)), "Discover: duplicate endpoints", ev)
    if expect_ids is not None:
        _need(set(ids) == set(expect_ids), f"Discover: endpoints {sorted(ids)} are not {sorted(expect_ids)}", ev)
    return ev


ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def check_initialize(r, directive, camera_id, rtsps_base):
    """Response to InitializeCameraStreams: header echoes the correlationToken,
    endpoint echoes the id, one or more streams with every field the doc lists."""
    ev = _alexa_event(r, "InitializeCameraStreams")
    h = ev["header"]
    _need(h["namespace"] == "Alexa.CameraStreamController" and h["name"] == "Response",
          "InitializeCameraStreams: header is not CameraStreamController Response", ev)
    _need(h.get("correlationToken") == directive["directive"]["header"]["correlationToken"],
          "correlationToken not echoed", ev)
    _need(_type(ev, "endpoint", dict, "event").get("endpointId") == camera_id, "endpointId not echoed", ev)
    streams = _type(ev["payload"], "cameraStreams", list, "payload")
    _need(streams, "no cameraStreams", ev)
    for s in streams:
        uri = _type(s, "uri", str, "cameraStream")
        _need(uri.startswith(f"{rtsps_base}/cam/{camera_id}?token="), f"uri is not {rtsps_base}/cam/{camera_id}?token=",
              s)
        exp = _type(s, "expirationTime", str, "cameraStream")
        _need(ISO_Z.match(exp), "expirationTime is not ISO-8601 UTC", s)
        t = datetime.strptime(exp.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        left = t.timestamp() - time.time()
        _need(0 < left <= 3700, f"expirationTime {exp} not in the near future", s)
        _need(_type(s, "idleTimeoutSeconds", int, "cameraStream") > 0, "idleTimeoutSeconds", s)
        _need(s.get("protocol") == "RTSP", "protocol is not RTSP", s)
        res = _type(s, "resolution", dict, "cameraStream")
        _need(isinstance(res.get("width"), int) and isinstance(res.get("height"), int), "resolution", s)
        _need(s.get("authorizationType") in ("NONE", "BASIC", "DIGEST", "BEARER"), "authorizationType", s)
        _need(s.get("videoCodec") in ("H264", "H265", "MPEG2", "MJPG", "JPG"), "videoCodec", s)
        _need(s.get("audioCodec") in ("G711", "AAC", "NONE"), "audioCodec", s)
    img = _type(ev["payload"], "imageUri", str, "payload")
    _need(img.startswith("https://"), "imageUri is not https", ev)
    return ev


def check_alexa_error(r, typ, directive=None):
    ev = _alexa_event(r, "ErrorResponse")
    h = ev["header"]
    _need(h["namespace"] == "Alexa" and h["name"] == "ErrorResponse", f"expected Alexa.ErrorResponse {typ}", ev)
    _need(ev["payload"].get("type") == typ, f"expected ErrorResponse type {typ}", ev)
    _need(isinstance(ev["payload"].get("message"), str), "ErrorResponse: message", ev)
    if directive is not None:
        dh = directive["directive"]["header"]
        if "correlationToken" in dh:
            _need(h.get("correlationToken") == dh["correlationToken"], "correlationToken not echoed", ev)
    return ev


# ---------------------------------------------------------------------------
# TOTP (RFC 6238) without reusing a step: camvault accepts a code once.

class Totp:
    def __init__(self, secret_b32):
        self.key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
        self.secret = secret_b32
        self.last = -1

    def at(self, step):
        import hmac
        import struct
        mac = hmac.new(self.key, struct.pack(">Q", step), hashlib.sha1).digest()
        off = mac[-1] & 0x0F
        return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)

    def next(self):
        """A code from a step never used before, within the server's ±1 window
        (waits for the clock when three have been used in a row). The first code
        is from the current step (not the previous one: it may be gone by the time
        the server checks it)."""
        while True:
            now = int(time.time() // 30)
            step = max(self.last + 1, now)
            if step <= now + 1:
                self.last = step
                return self.at(step)
            time.sleep(0.5)


# ---------------------------------------------------------------------------
# The real consent page, in Chromium (tests/browser/link-consent.mjs)

def playwright_consent(url, login, password, expect_cameras=(), totp=None, totp_secret=None, deny=False,
                       partner=None, timeout=60, chromium="/usr/bin/chromium"):
    """Runs link-consent.mjs; returns (exit code, its JSON result)."""
    args = ["node", str(CONSENT_SCRIPT), "--url", url, "--login", login, "--password", password,
            "--timeout", str(int(timeout)), "--chromium", chromium]
    if totp:
        args += ["--totp", totp]
    if totp_secret:
        args += ["--totp-secret", totp_secret]
    for c in expect_cameras:
        args += ["--expect-camera", c]
    if partner:
        args += ["--expect-partner", partner]
    if deny:
        args += ["--deny"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 30, cwd=CONSENT_SCRIPT.parent)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, f"link-consent.mjs printed no result (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.returncode, json.loads(lines[-1])
