"""RTSPS: the same RTSP for viewers inside TLS (the certificate HTTPS uses),
interleaved TCP only, with the same access rules, against the real binary."""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import SLOW, Server, make_clip, push_camera, wait_for, wait_live
from pattern import PatternCamera, decode_stream
from rtsp_client import Client, frame_gaps


def rtsps_port(srv):
    m = wait_for(lambda: srv.find(r"rtsps listening on [\d.:a-f]+:(\d+)"), 10, "rtsps to listen")
    return int(m.group(1))


def cert_file(srv):
    return srv.data_dir / "tls" / "cert.pem"


def rtsps_url(srv, cam_id, token=None):
    url = f"rtsps://localhost:{rtsps_port(srv)}/cam/{cam_id}"
    return f"{url}?token={token}" if token else url


class TlsClient(Client):
    """rtsp_client.Client over TLS, verifying the server's certificate."""

    def __init__(self, srv, timeout=10.0, rcvbuf=None):
        if rcvbuf:
            Client.__init__(self, "127.0.0.1", srv.port)  # for the attributes; replaced below
            self.sock.close()
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.connect(("127.0.0.1", rtsps_port(srv)))
        else:
            super().__init__("127.0.0.1", rtsps_port(srv), timeout=timeout)
        ctx = ssl.create_default_context(cafile=str(cert_file(srv)))
        self.sock.settimeout(timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.sock.settimeout(timeout)


def describe(srv, url):
    c = TlsClient(srv)
    try:
        return c.request("DESCRIBE", url, {"Accept": "application/sdp"})
    finally:
        c.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server, two cameras (one pushing a pattern that carries its id)."""
    srv = Server(tmp_path_factory.mktemp("rtsps") / "var").start()
    cam = srv.add_camera("door")
    other = srv.add_camera("yard")
    pc = PatternCamera(cam["ingest_url"], cam["id"]).start()
    try:
        tok = srv.token(cam["id"])
        wait_for(lambda: describe(srv, rtsps_url(srv, cam["id"], tok)).status == 200, 30 * SLOW,
                 "the camera to be live over RTSPS")
        yield srv, cam, other, tok
    finally:
        pc.stop()
        srv.stop()


def test_ffprobe_reads_the_stream_and_ffmpeg_decodes_this_camera(live):
    srv, cam, _, tok = live
    url = rtsps_url(srv, cam["id"], tok)
    p = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json", url],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert p.returncode == 0, p.stderr
    codecs = [s["codec_name"] for s in json.loads(p.stdout)["streams"]]
    assert codecs == ["h264"], codecs
    frames = decode_stream(url, frames=60, timeout=60 * SLOW)
    codes = frames.codes()
    assert len(codes) >= 50, f"only {len(codes)} decodable frames of {len(frames)}"
    assert {c[0] for c in codes} == {cam["id"]}


def test_certificate_is_the_served_one(live):
    srv, _, _, _ = live
    cert = cert_file(srv)
    ctx = ssl.create_default_context(cafile=str(cert))  # verifies chain and host name
    with socket.create_connection(("127.0.0.1", rtsps_port(srv)), timeout=10) as so:
        with ctx.wrap_socket(so, server_hostname="localhost") as t:
            served = t.getpeercert(binary_form=True)
            assert t.selected_alpn_protocol() is None
    assert served == ssl.PEM_cert_to_DER_cert(cert.read_text())
    # ...and the HTTPS listener presents the very same one.
    with socket.create_connection(("127.0.0.1", srv.https_port()), timeout=10) as so:
        with ctx.wrap_socket(so, server_hostname="localhost") as t:
            assert t.getpeercert(binary_form=True) == served


def test_a_client_offering_other_alpn_is_still_served(live):
    srv, cam, _, tok = live
    ctx = ssl.create_default_context(cafile=str(cert_file(srv)))
    ctx.set_alpn_protocols(["rtsp", "h2"])
    with socket.create_connection(("127.0.0.1", rtsps_port(srv)), timeout=10) as so:
        with ctx.wrap_socket(so, server_hostname="localhost") as t:
            assert t.selected_alpn_protocol() is None
            t.sendall(f"OPTIONS {rtsps_url(srv, cam['id'])} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert t.recv(100).startswith(b"RTSP/1.0 200")


def test_no_token_is_401_and_another_cameras_token_is_403(live):
    srv, cam, other, tok = live
    r = describe(srv, rtsps_url(srv, cam["id"]))
    assert r.status == 401 and r.header("www-authenticate", "").startswith("Digest ")
    assert describe(srv, rtsps_url(srv, other["id"], tok)).status == 403
    assert describe(srv, rtsps_url(srv, "0123456789abcdef0123456789abcdef", tok)).status == 403
    # The same answers as plain RTSP.
    plain = Client("127.0.0.1", srv.port)
    try:
        assert plain.request("DESCRIBE", srv.url(other["id"], token=tok)).status == 403
    finally:
        plain.close()


def test_udp_transport_over_rtsps_is_461(live):
    srv, cam, _, tok = live
    c = TlsClient(srv)
    try:
        d = c.request("DESCRIBE", rtsps_url(srv, cam["id"], tok), {"Accept": "application/sdp"})
        assert d.status == 200
        base = d.header("content-base")
        assert base.startswith("rtsps://"), base
        r = c.request("SETUP", f"{base}trackID=0", {"Transport": "RTP/AVP;unicast;client_port=40000-40001"})
        assert r.status == 461
        # Interleaved on the same connection works.
        r = c.request("SETUP", f"{base}trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        assert r.status == 200
        assert c.request("PLAY", base, {"Range": "npt=0.000-"}).status == 200
        ch, pkt = c.read_packet(timeout=10 * SLOW)
        assert ch == 0 and len(pkt) > 12
    finally:
        c.close()


def refused(port, payload):
    """Sends payload to the port; True when the server ends the connection
    without a RTSP answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    try:
        s.sendall(payload)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return not got.startswith(b"RTSP/")
    except ConnectionResetError:
        return True
    finally:
        s.close()


def test_plain_rtsp_and_garbage_on_the_rtsps_port_are_refused(live):
    srv, cam, _, tok = live
    port = rtsps_port(srv)
    assert refused(port, f"OPTIONS rtsp://127.0.0.1:{port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
    # A ClientHello-looking record with a nonsense body, then random bytes.
    assert refused(port, b"\x16\x03\x01\x00\x30" + bytes(range(48)))
    assert refused(port, bytes(range(256)) * 8)
    # Still serving, and it counted the failures.
    assert describe(srv, rtsps_url(srv, cam["id"], tok)).status == 200
    assert srv.alive()
    assert srv.find(r"TLS with .* failed")


def test_token_revoke_ends_a_live_rtsps_viewer_within_a_second(live):
    srv, cam, _, _ = live
    tok = srv.token(cam["id"])
    v = TlsClient(srv)
    assert v.play_tcp(rtsps_url(srv, cam["id"], tok)).status == 200
    v.read_packet(timeout=10 * SLOW)
    srv.cli("token", "revoke", "--token", tok)
    t0 = time.monotonic()
    took = None
    v.sock.settimeout(0.2)
    while time.monotonic() - t0 < 5 * SLOW:
        try:
            if not v.sock.recv(65536):
                took = time.monotonic() - t0
                break
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError):
            took = time.monotonic() - t0
            break
    v.close()
    assert took is not None, "the RTSPS view was still live after the revoke\n" + srv.log()[-3000:]
    assert took < 1.0 * SLOW, f"the RTSPS view ended only after {took:.2f}s"
    print(f"RTSPS view ended {took * 1000:.0f} ms after the CLI returned")
    assert describe(srv, rtsps_url(srv, cam["id"], tok)).status in (401, 403)


def test_a_stalled_rtsps_viewer_is_dropped_like_a_plain_one(server, procs):
    """The same per-viewer byte/age/stall limits: nothing piles up in TLS."""
    srv = server(config={"viewer_queue_kib": 256, "viewer_stall_ms": 3000})
    cam = srv.add_camera("busy")
    push_camera(procs, make_clip("h264_only", seconds=6, size="1280x720"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    tok = srv.token(cam["id"])
    stalled = TlsClient(srv, rcvbuf=4096)
    assert stalled.play_tcp(rtsps_url(srv, cam["id"], tok)).status == 200  # then never reads again
    good = TlsClient(srv)
    assert good.play_tcp(rtsps_url(srv, cam["id"], tok)).status == 200
    frames, worst = frame_gaps(good, lambda: srv.find(r"viewer stalled|wrote nothing"), 12 * SLOW, 5 * SLOW)
    wait_for(lambda: srv.find(r"too slow"), 5, "the stalled viewer to be dropped to a keyframe")
    wait_for(lambda: srv.find(r"viewer stalled|wrote nothing"), 20, "the stalled viewer to be disconnected")
    assert frames > 50
    assert worst < 1.0 * SLOW, f"the healthy RTSPS viewer waited {worst:.2f}s for a frame"
    good.close()
    stalled.close()


def served_cert(srv, port):
    ctx = ssl.create_default_context(cafile=str(cert_file(srv)))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as so:
        with ctx.wrap_socket(so, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def test_certificate_reload_applies_to_rtsps(server, tmp_path):
    srv = server()
    port = rtsps_port(srv)
    old = served_cert(srv, port)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    os.replace(tmp_path / "k.pem", srv.data_dir / "tls" / "key.pem")
    os.replace(tmp_path / "c.pem", cert_file(srv))
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: srv.find(r"TLS certificate reloaded"), 10, "the reload")
    new = served_cert(srv, port)
    assert new != old and new == ssl.PEM_cert_to_DER_cert(cert_file(srv).read_text())
    assert served_cert(srv, srv.https_port()) == new


def test_a_camera_can_publish_over_rtsps(server, procs):
    srv = server()
    cam = srv.add_camera("porch")
    port = rtsps_port(srv)
    url = re.sub(r"^rtsp://([^@/]*@)?[^/@]+", lambda m: f"rtsps://{m.group(1) or ''}localhost:{port}",
                 cam["ingest_url"])
    push_camera(procs, make_clip("h264_only"), url)
    wait_live(srv, cam["id"])
    tok = srv.token(cam["id"])
    p = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name",
                        "-of", "csv=p=0", rtsps_url(srv, cam["id"], tok)],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert p.stdout.split() == ["h264"], p.stderr


def test_rtsps_can_be_turned_off(server):
    srv = server(extra=("--rtsps-port", "-1"))
    assert not srv.find(r"rtsps listening")
    assert srv.https_port() > 0
