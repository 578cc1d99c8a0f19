"""The promises that hold when things go wrong: a copy of the database is
useless without the server key, and guessing passwords or secrets gets
throttled without locking the real user out."""
import base64
import http.client
import json
import os
import re
import shutil
import sqlite3
import stat

from conftest import SLOW, Server, make_clip, push_camera, wait_for, wait_live
from rtsp_client import Client

GOOD_SDP = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n"
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:streamid=0\r\n")


def http_json(port, method, path, body, bearer=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
    h = {"Content-Type": "application/json"}
    if bearer:
        h["Authorization"] = "Bearer " + bearer
    try:
        c.request(method, "/api/v1/" + path, body=json.dumps(body).encode() if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        assert r.status == 200, (path, r.status, data)
        return json.loads(data)
    finally:
        c.close()


def describe(srv, url, source=None):
    c = Client("127.0.0.1", srv.port, source=source)
    try:
        return c.request("DESCRIBE", url, {"Accept": "application/sdp"})
    finally:
        c.close()


def test_leaked_database_holds_no_usable_secret(server, procs, tmp_path):
    srv = server()
    user_pw = "correct horse battery staple 42"
    srv.add_user("alice", password=user_pw)
    srv.cli("home", "add", "flat", "--owner", "alice")
    push = srv.add_camera("door", home="flat")
    ingest_secret = re.match(r"rtsp://camera:([^@]+)@", push["ingest_url"]).group(1)
    pull_pw = "PullCam-s3cret-9f8e7d"
    srv.add_camera("yard", home="flat", pull=f"rtsp://admin:{pull_pw}@127.0.0.1:9/stream")
    apppw = json.loads(srv.cli("user", "app-password", "add", "alice").stdout)["password"]
    token = srv.token(push["id"], user="alice")
    tok_id_part = token.split(".", 1)[1]
    # A TOTP seed (enrolled over the REST API) and a web session.
    port = int(wait_for(lambda: srv.find(r"http listening on [\d.:a-f]+:(\d+)"), 10, "http").group(1))
    login = http_json(port, "POST", "login", {"login": "alice", "password": user_pw})
    session = login["session"]
    totp = http_json(port, "POST", "me/totp", None, session)["secret"]
    totp_raw = base64.b32decode(totp + "=" * (-len(totp) % 8))
    secrets = [user_pw, ingest_secret, pull_pw, apppw, token, tok_id_part, totp, session]

    # Everything the database files hold, raw and as SQL text.
    data = srv.data_dir
    blobs = b"".join((data / f).read_bytes() for f in os.listdir(data)
                     if f.startswith("camvault.db"))
    db = sqlite3.connect(f"file:{data / 'camvault.db'}?mode=ro", uri=True)
    dump = "\n".join(db.iterdump())
    for s in secrets:
        assert s.encode() not in blobs, f"secret {s[:6]}... found in the database files"
        assert s not in dump, f"secret {s[:6]}... found in the SQL dump"
    assert totp_raw not in blobs and totp_raw.hex() not in dump
    # Passwords are Argon2id strings; tokens are 32-byte hashes.
    hashes = [r[0] for r in db.execute("SELECT pw_hash FROM users")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    token_hashes = [r[0] for r in db.execute("SELECT hash FROM tokens")]
    db.close()
    assert token_hashes
    wait_live_push = push_camera(procs, make_clip("h264_only"), push["ingest_url"])
    wait_live(srv, push["id"])
    # None of the stored token hashes works as a token, in any encoding.
    for h in token_hashes:
        for guess in (h.hex(), base64.urlsafe_b64encode(h).decode().rstrip("="), "cvt1." + h.hex()):
            assert describe(srv, srv.url(push["id"], token=guess)).status == 401
    # The key lives outside the database, readable by the owner only.
    key = data / "server.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    # The database copied to another machine (another key) opens nothing:
    # the camera's own ingest secret and the app password are refused there.
    wait_live_push.stop()
    stolen = tmp_path / "stolen"
    stolen.mkdir(mode=0o700)
    db = sqlite3.connect(str(data / "camvault.db"))
    db.execute(f"VACUUM INTO '{stolen / 'camvault.db'}'")
    db.close()
    thief = Server(stolen).start()
    try:
        c = Client("127.0.0.1", thief.port)
        url = push["ingest_url"].replace(f":{srv.port}/", f":{thief.port}/")
        assert c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, GOOD_SDP.encode()).status == 401
        c.close()
        url = thief.bare_url(push["id"]).replace("rtsp://", f"rtsp://alice:{apppw}@")
        assert describe(thief, url).status == 401
        assert describe(thief, thief.url(push["id"], token=token)).status == 401
        wait_for(lambda: thief.find(r"cannot be unsealed"), 10, "the pull URL to be unreadable")
    finally:
        thief.stop()


def test_guessing_app_passwords_is_throttled_but_the_owner_gets_in(server, procs):
    srv = server(config={"throttle_lockout_ms": 60000})  # no race with the lockout's end
    cam = srv.add_camera("front")
    push_camera(procs, make_clip("h264_only"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    real = json.loads(srv.cli("user", "app-password", "add", "owner").stdout)["password"]
    statuses = []
    for i in range(12):  # a bounded burst from one address
        url = srv.bare_url(cam["id"]).replace("rtsp://", f"rtsp://owner:guess{i:04d}@")
        statuses.append(describe(srv, url).status)
    assert statuses[:5] == [401] * 5, statuses
    assert 503 in statuses, f"the throttle never engaged: {statuses}"
    r = describe(srv, srv.bare_url(cam["id"]).replace("rtsp://", "rtsp://owner:guess-more@"))
    assert r.status == 503 and int(r.header("retry-after")) >= 1
    # Even the right password is refused from the throttled address...
    assert describe(srv, srv.bare_url(cam["id"]).replace("rtsp://", f"rtsp://owner:{real}@")).status == 503
    # ...but the owner, from a clean address, gets in at once.
    ok = describe(srv, srv.bare_url(cam["id"]).replace("rtsp://", f"rtsp://owner:{real}@"), source="127.0.0.2")
    assert ok.status == 200
    rows = json.loads(srv.cli("audit", "--limit", "1000").stdout)
    assert sum(1 for r in rows if r["event"] == "login.fail") >= 5


def test_guessing_ingest_secrets_is_throttled(server):
    srv = server(config={"throttle_lockout_ms": 60000})
    cam = srv.add_camera("cam")
    statuses = []
    for i in range(10):
        url = cam["ingest_url"].replace("rtsp://camera:", f"rtsp://camera:x{i}")
        c = Client("127.0.0.1", srv.port)
        statuses.append(c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, GOOD_SDP.encode()).status)
        c.close()
    assert statuses[0] == 401 and 503 in statuses, statuses
    # The camera itself, from its own address, still gets in.
    c = Client("127.0.0.1", srv.port, source="127.0.0.3")
    assert c.request("ANNOUNCE", cam["ingest_url"], {"Content-Type": "application/sdp"},
                     GOOD_SDP.encode()).status == 200
    c.close()


def test_store_from_before_homes_gets_its_pull_credentials_sealed(tmp_path):
    """A schema-1 store (cameras only, pull URLs in clear) is migrated, and the
    first server start seals the credentials: none are left in the files."""
    data = tmp_path / "old"
    data.mkdir(mode=0o700)
    db = sqlite3.connect(str(data / "camvault.db"))
    db.executescript(
        "CREATE TABLE cameras (id BLOB NOT NULL PRIMARY KEY, name TEXT NOT NULL, source INTEGER NOT NULL,"
        " pull_url TEXT NOT NULL DEFAULT '', pull_transport INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL,"
        " removed_us INTEGER NULL);"
        "CREATE UNIQUE INDEX cameras_live_name ON cameras(name) WHERE removed_us IS NULL;")
    secret = "OldCamPass-7c1d"
    db.execute("INSERT INTO cameras VALUES (?, 'legacy', 2, ?, 0, 1, NULL)",
               (os.urandom(16), f"rtsp://admin:{secret}@127.0.0.1:9/s"))
    db.commit()
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    os.chmod(data / "camvault.db", 0o600)
    srv = Server(data).start()
    try:
        wait_for(lambda: srv.find(r"sealed the pull URLs of 1 camera"), 10, "the legacy URL to be sealed")
        wait_for(lambda: srv.find(r"\(legacy\): pulling"), 10, "the legacy camera to be pulled")
        listed = json.loads(srv.cli("camera", "list").stdout)
        assert secret not in json.dumps(listed)
    finally:
        srv.stop()
    blobs = b"".join((data / f).read_bytes() for f in os.listdir(data) if f.startswith("camvault.db"))
    assert secret.encode() not in blobs
