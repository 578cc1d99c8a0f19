"""Watching over HTTP (issue 4): LL-HLS with fMP4 parts, progressive fMP4,
JPEG snapshots and MJPEG, the session-scoped HLS URLs, /metrics, TLS, and
bad input. Real camvault, real ffmpeg cameras that draw their own id into
the picture (pattern.py), real ffmpeg/ffprobe/curl clients."""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, Server, free_port, wait_for
from pattern import PatternCamera, decode_jpeg, decode_stream, jpeg_size, read_mjpeg


def get(url, headers=None, timeout=30):
    """(status, headers, body) of a GET, whatever the status."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def base(srv):
    return f"http://127.0.0.1:{srv.http_port()}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server for the module with one pattern camera pushing (H.264 +
    AAC), and a token; stopped and checked (clean exit, no sanitizer report)
    at the end."""
    srv = Server(tmp_path_factory.mktemp("watch") / "var").start()
    cam = srv.add_camera("hall")
    pc = PatternCamera(cam["ingest_url"], cam["id"], audio=True).start()
    try:
        tok = srv.token(cam["id"], scope="live,snapshot")
        # The camera is live once a snapshot answers.
        wait_for(lambda: get(f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}")[0] == 200, 30,
                 "a first picture")
        yield srv, cam, tok, pc
    finally:
        pc.stop()
        srv.stop()


def hls_url(srv, cam, tok):
    return f"{base(srv)}/cam/{cam['id']}/index.m3u8?token={tok}"


def media_playlist(srv, cam, tok):
    st, _, body = get(hls_url(srv, cam, tok))
    assert st == 200, body
    uri = [l for l in body.decode().splitlines() if l and not l.startswith("#")][0]
    return f"{base(srv)}/cam/{cam['id']}/{uri}"


def test_hls_multivariant_and_media_playlist_are_ll_hls(live):
    srv, cam, tok, _ = live
    st, hdr, body = get(hls_url(srv, cam, tok))
    assert st == 200 and hdr["Content-Type"] == "application/vnd.apple.mpegurl"
    assert hdr["Cache-Control"] == "private, no-store"
    text = body.decode()
    assert re.search(r'#EXT-X-STREAM-INF:BANDWIDTH=\d+,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",RESOLUTION=320x240', text)
    mp = media_playlist(srv, cam, tok)
    assert re.search(r"\?s=[0-9a-f]{32}$", mp), "the variant URL carries a session, not the token"
    st, hdr, body = get(mp)
    assert st == 200 and hdr["Cache-Control"] == "private, no-store"
    pl = body.decode()
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=" in pl
    target = float(re.search(r"#EXT-X-PART-INF:PART-TARGET=([\d.]+)", pl).group(1))
    assert 0.2 <= target <= 0.5
    parts = [float(d) for d in re.findall(r"#EXT-X-PART:DURATION=([\d.]+)", pl)]
    assert parts and max(parts) <= target + 0.001
    assert re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p\d+\.\d+\.m4s\?s=[0-9a-f]{32}"', pl)
    assert re.search(r'#EXT-X-MAP:URI="init\.mp4\?s=[0-9a-f]{32}"', pl)
    assert "token=" not in pl, "the capability token must not be copied into the playlist"


def test_hls_fmp4_is_valid_and_decodes_to_the_right_camera(live, tmp_path):
    srv, cam, tok, _ = live
    mp = media_playlist(srv, cam, tok)
    pl = get(mp)[2].decode()
    sid = re.search(r"s=([0-9a-f]{32})", mp).group(1)
    seg = re.findall(r"^(s\d+\.m4s)\?", pl, re.M)[-1]
    root = f"{base(srv)}/cam/{cam['id']}/main/"
    init = get(f"{root}init.mp4?s={sid}")
    media = get(f"{root}{seg}?s={sid}")
    assert init[0] == 200 and media[0] == 200
    assert init[1]["Cache-Control"] == "private, no-store"
    assert init[2][4:8] == b"ftyp" and b"moov" in init[2] and b"moof" not in init[2]
    assert media[2][4:8] == b"moof"
    f = tmp_path / "seg.mp4"
    f.write_bytes(init[2] + media[2])
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                        "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(f)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    streams = {s["codec_name"]: s for s in json.loads(r.stdout)["streams"]}
    assert streams["h264"]["width"] == 320 and int(streams["h264"]["nb_read_frames"]) >= 25
    assert "aac" in streams
    # ffmpeg plays the HLS URL (ordinary HLS: it ignores the LL tags) and
    # every decoded picture carries this camera's id.
    frames = decode_stream(hls_url(srv, cam, tok), frames=50, timeout=90)
    codes = frames.codes()
    assert len(codes) >= 40, frames.stderr
    assert {c[0] for c in codes} == {cam["id"]}


def test_ll_hls_blocking_reload_answers_when_the_part_appears(live):
    srv, cam, tok, _ = live
    mp = media_playlist(srv, cam, tok)
    pl = get(mp)[2].decode()
    msn, part = map(int, re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s', pl).groups())
    t0 = time.monotonic()
    st, _, body = get(f"{mp}&_HLS_msn={msn}&_HLS_part={part}")
    waited = time.monotonic() - t0
    assert st == 200
    pl2 = body.decode()
    # The answer holds the part it waited for (or its segment completed).
    assert f'URI="p{msn}.{part}.m4s' in pl2 or re.search(rf"^s{msn}\.m4s", pl2, re.M), pl2
    assert waited < 3 * SLOW
    # The hinted part itself blocks until it is made, then is a CMAF chunk run.
    pl = pl2
    msn, part = map(int, re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s', pl).groups())
    sid = re.search(r"s=([0-9a-f]{32})", mp).group(1)
    st, _, chunk = get(f"{base(srv)}/cam/{cam['id']}/main/p{msn}.{part}.m4s?s={sid}")
    assert st == 200 and chunk[4:8] == b"moof"
    # Far in the future: 400 at once, never a hanging request.
    t0 = time.monotonic()
    st, _, _ = get(f"{mp}&_HLS_msn={msn + 50}&_HLS_part=0")
    assert st == 400 and time.monotonic() - t0 < 2 * SLOW
    st, _, _ = get(f"{mp}&_HLS_part=1")
    assert st == 400
    # A part long gone or never to be: 404.
    assert get(f"{base(srv)}/cam/{cam['id']}/main/p{msn}.99.m4s?s={sid}")[0] in (400, 404)


def test_progressive_mp4_starts_at_a_keyframe_and_decodes(live, tmp_path):
    srv, cam, tok, _ = live
    url = f"{base(srv)}/cam/{cam['id']}/live.mp4?token={tok}"
    out = tmp_path / "live.mp4"
    r = subprocess.run(["curl", "-s", "-o", str(out), "--max-time", "4", "-D", "-", url],
                       capture_output=True, text=True, timeout=30)
    assert "200" in r.stdout.splitlines()[0]
    assert re.search(r"(?im)^cache-control: private, no-store", r.stdout)
    assert re.search(r"(?im)^transfer-encoding: chunked", r.stdout)
    data = out.read_bytes()
    assert data[4:8] == b"ftyp"
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
                        "stream=nb_read_frames:frame=key_frame", "-of", "json", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert int(info["streams"][0]["nb_read_frames"]) >= 50
    assert info["frames"][0]["key_frame"] == 1, "a progressive viewer starts at the prebuffered keyframe"
    frames = decode_stream(url, frames=25, timeout=60)
    assert {c[0] for c in frames.codes()} == {cam["id"]} and len(frames.codes()) >= 20


def test_snapshot_is_a_jpeg_of_the_right_camera_and_scales(live):
    srv, cam, tok, _ = live
    st, hdr, body = get(f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}")
    assert st == 200 and hdr["Content-Type"] == "image/jpeg" and hdr["Cache-Control"] == "private, no-store"
    assert body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9"
    assert jpeg_size(body) == (320, 240)
    code = decode_jpeg(body)
    assert code and code[0] == cam["id"], "the snapshot shows the camera's own id"
    st, _, small = get(f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}&width=160")
    assert st == 200 and jpeg_size(small) == (160, 120)
    assert decode_jpeg(small)[0] == cam["id"]
    assert get(f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}&width=abc")[0] == 400


def test_concurrent_snapshots_share_one_decode(live):
    srv, cam, tok, _ = live
    import concurrent.futures
    url = f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}"
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: get(url), range(8)))
    assert all(r[0] == 200 and decode_jpeg(r[2])[0] == cam["id"] for r in results)


def test_mjpeg_stream_at_the_requested_rate(live):
    srv, cam, tok, _ = live
    url = f"{base(srv)}/cam/{cam['id']}/live.mjpeg?token={tok}&fps=5&width=160"
    hdrs, parts = read_mjpeg(url, seconds=3)
    assert hdrs["Cache-Control"] == "private, no-store"
    pics = [jpeg for _, _, jpeg in parts]
    assert 8 <= len(pics) <= 20, len(pics)
    codes = [decode_jpeg(p) for p in pics]
    assert all(c and c[0] == cam["id"] for c in codes)
    assert jpeg_size(pics[0]) == (160, 120)
    assert get(f"{base(srv)}/cam/{cam['id']}/live.mjpeg?token={tok}&fps=500")[0] == 400


def test_offline_camera_gets_503_with_last_seen_never_a_picture(server, procs):
    srv = server()
    cam = srv.add_camera("dark")
    tok = srv.token(cam["id"], scope="live,snapshot")
    st, hdr, body = get(f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}")
    assert st == 503 and json.loads(body) == {"error": "camera offline", "last_seen": None}
    pc = PatternCamera(cam["ingest_url"], cam["id"]).start()
    url = f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={tok}"
    wait_for(lambda: get(url)[0] == 200, 30, "a picture")
    pc.stop()
    wait_for(lambda: get(url)[0] == 503, 20, "the camera to be offline")
    doc = json.loads(get(url)[2])
    assert doc["error"] == "camera offline" and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["last_seen"])
    assert get(f"{base(srv)}/cam/{cam['id']}/index.m3u8?token={tok}")[0] == 503


def test_tokens_scopes_and_sessions_are_enforced(live):
    srv, cam, tok, _ = live
    other = srv.add_camera("other")
    b = base(srv)
    cid = cam["id"]
    for path in ("index.m3u8", "live.mp4", "snapshot.jpg", "live.mjpeg"):
        st, hdr, _ = get(f"{b}/cam/{cid}/{path}")
        assert st == 401 and "Bearer" in hdr["WWW-Authenticate"]
        assert get(f"{b}/cam/{cid}/{path}?token=cvt1.bogus")[0] == 401
        other_tok = srv.token(other["id"], scope="live,snapshot")
        assert get(f"{b}/cam/{cid}/{path}?token={other_tok}")[0] == 403
    # A made-up camera answers exactly as a real one does to the wrong token.
    fake = "0" * 31 + "1"
    assert get(f"{b}/cam/{fake}/index.m3u8?token={other_tok}")[0] == 403
    # Bearer works as well as ?token=.
    assert get(f"{b}/cam/{cid}/snapshot.jpg", headers={"Authorization": f"Bearer {tok}"})[0] == 200
    # A live-only token may not take snapshots... it may: a snapshot is less than live video.
    snap_only = srv.token(cid, scope="snapshot")
    assert get(f"{b}/cam/{cid}/snapshot.jpg?token={snap_only}")[0] == 200
    assert get(f"{b}/cam/{cid}/index.m3u8?token={snap_only}")[0] == 403
    # A session works only for its own camera.
    mp = media_playlist(srv, cam, tok)
    sid = re.search(r"s=([0-9a-f]{32})", mp).group(1)
    assert get(f"{b}/cam/{other['id']}/main/live.m3u8?s={sid}")[0] == 401
    assert get(f"{b}/cam/{cid}/main/live.m3u8?s={'0' * 32}")[0] == 401
    # One token cannot fill the session table: past 16 sessions its oldest go.
    fresh = srv.token(cid)
    first = media_playlist(srv, cam, fresh)
    for _ in range(16):
        last = media_playlist(srv, cam, fresh)
    assert get(first)[0] == 401 and get(last)[0] == 200
    # Unknown rendition or file: 404.
    assert get(f"{b}/cam/{cid}/hd/live.m3u8?s={sid}")[0] == 404
    assert get(f"{b}/cam/{cid}/main/x.m4s?s={sid}")[0] == 404
    assert get(f"{b}/cam/{cid}/sub/live.m3u8?s={sid}")[0] == 404


def test_revoking_ends_hls_sessions_and_live_answers(live):
    srv, cam, _, _ = live
    tok = srv.token(cam["id"], scope="live,snapshot")
    mp = media_playlist(srv, cam, tok)
    assert get(mp)[0] == 200
    # A progressive MP4 viewer, reading.
    url = f"{base(srv)}/cam/{cam['id']}/live.mp4?token={tok}"
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port(), timeout=30)
    conn.request("GET", url.split(str(srv.http_port()), 1)[1])
    resp = conn.getresponse()
    assert resp.status == 200
    resp.read(1000)
    t0 = time.monotonic()
    srv.cli("token", "revoke", "--token", tok)
    # The stream ends: reading reaches EOF (or the socket closes).
    while True:
        try:
            chunk = resp.read1(65536)
        except (ConnectionError, http.client.IncompleteRead, socket.timeout):
            break
        if not chunk:
            break
        assert time.monotonic() - t0 < 5 * SLOW, "the MP4 stream outlived its revoked token"
    ended = time.monotonic() - t0
    print(f"progressive MP4 ended {ended * 1000:.0f} ms after the revoke returned")
    assert ended < 1.0 * SLOW + 0.5
    wait_for(lambda: get(mp)[0] == 401, 2 * SLOW, "the HLS session to end")
    assert get(hls_url(srv, cam, tok))[0] == 401
    assert srv.find(r"view.revoked|revoked")


def test_bad_input_gets_a_quick_4xx(live):
    srv, cam, tok, _ = live
    b = base(srv)
    mp = media_playlist(srv, cam, tok)
    sid = re.search(r"s=([0-9a-f]{32})", mp).group(1)
    init = f"{b}/cam/{cam['id']}/main/init.mp4?s={sid}"
    st, hdr, body = get(init, headers={"Range": "bytes=0-7"})
    assert st == 206 and len(body) == 8 and hdr["Content-Range"].startswith("bytes 0-7/")
    assert get(init, headers={"Range": "bytes=99999999-"})[0] == 416
    assert get(init, headers={"Range": "lines=1-2"})[0] == 416
    assert get(f"{b}/cam/{cam['id']}/index.m3u8?token={tok}&x={'a' * 20000}")[0] in (414, 431)
    assert get(f"{b}/cam/nothex/index.m3u8?token={tok}")[0] == 404
    req = urllib.request.Request(f"{b}/cam/{cam['id']}/index.m3u8?token={tok}", method="POST", data=b"x")
    try:
        urllib.request.urlopen(req, timeout=10)
        assert False
    except urllib.error.HTTPError as e:
        assert e.code == 405
    assert srv.alive()


def test_slow_clients_are_cut_off(server):
    srv = server(config={"http_timeout": "2"})
    port = srv.http_port()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /cam/")
    t0 = time.monotonic()
    data = b""
    try:
        while True:  # a slowloris: one byte now and then
            time.sleep(0.5)
            s.sendall(b"a")
            if time.monotonic() - t0 > 10 * SLOW:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(5)
    try:
        data = s.recv(1000)
    except (ConnectionResetError, socket.timeout):
        pass
    elapsed = time.monotonic() - t0
    assert elapsed < 6 * SLOW, "a slowloris kept the connection"
    assert data == b"" or data.startswith(b"HTTP/1.1 408")
    big = socket.create_connection(("127.0.0.1", port), timeout=10)
    big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    assert big.recv(100).startswith(b"HTTP/1.1 431")


def test_metrics_need_their_own_token(live):
    srv, cam, tok, _ = live
    b = base(srv)
    assert get(f"{b}/metrics")[0] == 401
    assert get(f"{b}/metrics", headers={"Authorization": f"Bearer {tok}"})[0] == 401
    mtok = (srv.data_dir / "metrics.token").read_text().strip()
    assert oct(os.stat(srv.data_dir / "metrics.token").st_mode & 0o777) == "0o600"
    get(f"{b}/cam/{cam['id']}/snapshot.jpg?token={tok}")
    st, hdr, body = get(f"{b}/metrics", headers={"Authorization": f"Bearer {mtok}"})
    assert st == 200 and hdr["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    vals = dict(re.findall(r"^(camvault_[a-z_]+(?:\{[^}]*\})?) (\d+)$", text, re.M))
    assert vals["camvault_streams_online"] == "1"
    assert int(vals['camvault_bytes_out_total{protocol="snapshot"}']) > 0
    assert int(vals['camvault_http_media_requests_total{protocol="snapshot"}']) >= 1
    assert vals['camvault_isolation_violations_total{where="http_last_write"}'] == "0"
    assert int(vals['camvault_auth_failures_total{kind="http_media"}']) >= 0
    assert "# TYPE camvault_queue_drops_total counter" in text


def test_token_issue_gives_ready_to_play_urls(live):
    srv, cam, _, _ = live
    r = srv.cli("token", "issue", "--camera", cam["id"], "--scope", "all", "--http-port", str(srv.http_port()),
                "--rtsp-port", str(srv.port))
    urls = json.loads(r.stdout)["urls"]
    assert set(urls) == {"rtsp", "hls", "mp4", "mjpeg", "snapshot"}
    st, _, body = get(urls["snapshot"])
    assert st == 200 and decode_jpeg(body)[0] == cam["id"]
    assert get(urls["hls"])[0] == 200
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", urls["hls"]],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert "h264" in r.stdout, r.stderr


def test_https_with_the_self_signed_certificate_and_reload(live, tmp_path):
    srv, cam, tok, _ = live
    port = srv.https_port()
    cert = srv.data_dir / "tls" / "cert.pem"
    ctx = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=30)
    conn.request("GET", f"/cam/{cam['id']}/snapshot.jpg?token={tok}")
    r = conn.getresponse()
    assert r.status == 200 and decode_jpeg(r.read())[0] == cam["id"]
    assert conn.sock.selected_alpn_protocol() in (None, "http/1.1")
    # ffprobe plays HLS over TLS.
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                        f"https://localhost:{port}/cam/{cam['id']}/index.m3u8?token={tok}"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert "h264" in p.stdout, p.stderr
    # A web session made over HTTPS gets a Secure cookie; over plain HTTP
    # (loopback only) it cannot be Secure.
    pw = srv.add_user("tlsuser")
    for secure, c in ((True, http.client.HTTPSConnection("localhost", port, context=ctx, timeout=60)),
                      (False, http.client.HTTPConnection("127.0.0.1", srv.http_port(), timeout=60))):
        c.request("POST", "/api/v1/login", json.dumps({"login": "tlsuser", "password": pw}),
                  {"Content-Type": "application/json"})
        resp = c.getresponse()
        resp.read()
        assert resp.status == 200
        assert ("; Secure" in resp.getheader("Set-Cookie")) == secure
    # A plain-text client on the TLS port is refused; the server stays up.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(10)
    try:
        got = s.recv(100)
    except ConnectionResetError:
        got = b""
    assert not got.startswith(b"HTTP/1.1 200")
    # Certificate reload: new files, SIGHUP, new connections see the new one.
    old = conn.sock.getpeercert(binary_form=True)
    key = srv.data_dir / "tls" / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    os.replace(tmp_path / "k.pem", key)
    os.replace(tmp_path / "c.pem", cert)
    srv.proc.send_signal(1)  # SIGHUP
    wait_for(lambda: srv.find(r"TLS certificate reloaded"), 10, "the reload")

    def served_cert():
        raw = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as so:
            with raw.wrap_socket(so, server_hostname="localhost") as t:
                return t.getpeercert(binary_form=True)
    new = served_cert()
    assert new != old and new == ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_substream_is_a_second_rendition(server, procs):
    """A pull camera with a substream: the multivariant playlist offers both
    renditions (main 640x360, sub 320x180) and each plays."""
    import test_pull
    srv = server()
    _, main_url = test_pull.start_camera(procs, free_port(), "--size", "640x360")
    _, sub_url = test_pull.start_camera(procs, free_port(), "--size", "320x180")
    home = srv.ensure_home()
    cam = json.loads(srv.cli("camera", "add", "--name", "gate", "--home", home, "--pull", main_url,
                             "--substream", sub_url).stdout)
    wait_for(lambda: srv.find(rf"camera {cam['id']}.*pulling its substream"), 20, "the substream puller")
    tok = srv.token(cam["id"])
    url = f"{base(srv)}/cam/{cam['id']}/index.m3u8?token={tok}"

    def both():
        st, _, body = get(url)
        return st == 200 and body.count(b"#EXT-X-STREAM-INF") == 2 and body
    body = wait_for(both, 40 * SLOW, "both renditions in the multivariant playlist").decode()
    assert "RESOLUTION=640x360" in body and "RESOLUTION=320x180" in body
    bw = [int(b) for b in re.findall(r"BANDWIDTH=(\d+)", body)]
    assert bw[0] > bw[1] > 0, "the substream must look cheaper to an adaptive player"
    sub = [l for l in body.splitlines() if l.startswith("sub/")][0]
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
                        f"{base(srv)}/cam/{cam['id']}/{sub}"], capture_output=True, text=True, timeout=60 * SLOW)
    assert r.stdout.strip().splitlines()[0] == "320,180", r.stderr
    # Snapshots and MP4 of the substream too.
    st, _, jpg = get(f"{base(srv)}/cam/{cam['id']}/snapshot.jpg?token={srv.token(cam['id'], scope='snapshot')}"
                     f"&rendition=sub")
    assert st == 200 and jpeg_size(jpg) == (320, 180)


def test_h265_with_opus_over_hls_and_mp4(server, procs):
    """H.265 (as hvc1) with Opus audio: HLS and progressive MP4 carry both."""
    from conftest import make_clip, push_camera, wait_live
    srv = server()
    cam = srv.add_camera("h265")
    push_camera(procs, make_clip("h265_opus"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    tok = srv.token(cam["id"])
    st, _, body = get(f"{base(srv)}/cam/{cam['id']}/index.m3u8?token={tok}")
    assert st == 200 and re.search(r'CODECS="hvc1\.[^"]+,opus"', body.decode()), body
    for url in (f"{base(srv)}/cam/{cam['id']}/index.m3u8?token={tok}", f"{base(srv)}/cam/{cam['id']}/live.mp4?token={tok}"):
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_tag_string", "-of",
                            "csv=p=0", url], capture_output=True, text=True, timeout=60 * SLOW)
        lines = set(r.stdout.split())
        assert "hevc,hvc1" in lines and "opus,Opus" in lines, (url, r.stdout, r.stderr)
