"""Bad input gets a clear status or a logged disconnect, and never disturbs
other cameras or viewers."""
import re
import socket
import struct
import time

import pytest

from conftest import SLOW, make_clip, push_camera, wait_for, wait_live
from rtsp_client import Client, rtp_header

GOOD_SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LAHtkBQfsBEAAAAwAQAAADAyDxYuSA,aMuMsg==\r\n"
    "a=control:streamid=0\r\n"
)


@pytest.fixture
def healthy(server, procs):
    """A server with one healthy camera and a watching viewer, to prove nothing else is disturbed."""
    srv = server()
    cam = srv.add_camera("healthy")
    push_camera(procs, make_clip("h264_only"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    viewer = Client("127.0.0.1", srv.port)
    assert viewer.play_tcp(srv.url(cam["id"])).status == 200
    return srv, cam, viewer


def still_flowing(viewer, seconds=1.0):
    """The healthy viewer keeps receiving video packets."""
    deadline = time.monotonic() + seconds * SLOW
    n = 0
    while time.monotonic() < deadline:
        ch, _ = viewer.read_packet(timeout=5 * SLOW)
        n += ch == 0
    assert n > 5, "healthy viewer stopped receiving"


def raw_exchange(port, data, timeout=5.0):
    """Sends bytes, returns (status line or '', whether the server closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    try:
        s.sendall(data)
        got = b""
        closed = False
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        return got.split(b"\r\n", 1)[0].decode("latin-1"), closed
    finally:
        s.close()


MALFORMED = [
    ("garbage", b"\x16\x03\x01\x02\x00garbage that is not rtsp\r\n\r\n", 400),
    ("bad request line", b"DESCRIBE\r\nCSeq: 1\r\n\r\n", 400),
    ("rtsp 2.0", b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
    ("oversized header", b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 413),
    ("too many headers", b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n" + b"X-H: v\r\n" * 200 + b"\r\n", 413),
    ("huge content-length", b"ANNOUNCE rtsp://x/cam/0 RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n", 413),
    ("negative content-length", b"ANNOUNCE rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,data,status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_status_and_close(healthy, name, data, status):
    srv, cam, viewer = healthy
    line, closed = raw_exchange(srv.port, data)
    assert line.startswith(f"RTSP/1.0 {status}"), f"{name}: got {line!r}"
    assert closed, f"{name}: connection left open"
    wait_for(lambda: srv.find(r"malformed RTSP|exceeds"), 5, "a log line naming the cause")
    still_flowing(viewer)


BAD_REQUESTS = [
    ("FROB", "rtsp://127.0.0.1/cam/x", {}, b"", 501),
    ("DESCRIBE", "rtsp://127.0.0.1/cam/00000000000000000000000000000000", {}, b"", 401),
    ("DESCRIBE", "rtsp://127.0.0.1/elsewhere", {}, b"", 401),
    ("SETUP", "rtsp://127.0.0.1/cam/zz/trackID=0", {"Transport": "RTP/AVP/TCP;interleaved=0-1"}, b"", 401),
    ("PLAY", "rtsp://127.0.0.1/cam/x", {}, b"", 455),
    ("PLAY", "rtsp://127.0.0.1/cam/x", {"Session": "deadbeef"}, b"", 454),
]


@pytest.mark.parametrize("method,uri,headers,body,status", BAD_REQUESTS,
                         ids=["unknown method", "unknown camera", "not a camera path", "setup bad id",
                              "play without session", "play wrong session"])
def test_bad_requests_get_clear_status(healthy, method, uri, headers, body, status):
    srv, cam, viewer = healthy
    c = Client("127.0.0.1", srv.port)
    try:
        r = c.request(method, uri, headers, body)
        assert r.status == status, (method, uri, r.status)
    finally:
        c.close()
    still_flowing(viewer)


def test_request_without_cseq_is_400(healthy):
    srv, cam, viewer = healthy
    line, _ = raw_exchange(srv.port, b"OPTIONS * RTSP/1.0\r\n\r\n", timeout=2)
    assert line.startswith("RTSP/1.0 400")


def test_bad_sdp_and_unknown_codec(healthy):
    srv, cam, viewer = healthy
    other = srv.add_camera("other")
    url = other["ingest_url"]
    c = Client("127.0.0.1", srv.port)
    try:
        r = c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, b"this is not sdp")
        assert r.status == 400
    finally:
        c.close()
    wait_for(lambda: srv.find(r"bad SDP"), 5, "a log line naming the bad SDP")
    c = Client("127.0.0.1", srv.port)
    try:
        sdp = GOOD_SDP.replace("H264/90000", "VP9/90000").encode()
        r = c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, sdp)
        assert r.status == 415
    finally:
        c.close()
    wait_for(lambda: srv.find(r'unsupported video codec "VP9"'), 5, "a log line naming the codec")
    still_flowing(viewer)


def publish(srv, url):
    """A hand-driven publisher over TCP interleaved, for sending bad media."""
    c = Client("127.0.0.1", srv.port)
    assert c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, GOOD_SDP.encode()).status == 200
    assert c.request("SETUP", url + "/streamid=0",
                     {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"}).status == 200
    assert c.request("RECORD", url, {"Range": "npt=0.000-"}).status == 200
    return c


def rtp(seq, payload, marker=True, ts=1000, version=2):
    return struct.pack(">BBHII", version << 6, (0x80 if marker else 0) | 96, seq, ts, 0x1234) + payload


def interleaved(ch, data):
    return b"$" + bytes([ch]) + struct.pack(">H", len(data)) + data


def test_malformed_media_is_dropped_and_logged(healthy):
    srv, cam, viewer = healthy
    bad = srv.add_camera("bad-media")
    pub = publish(srv, bad["ingest_url"])
    wait_live(srv, bad["id"])
    junk = [
        b"\x80",                                    # shorter than an RTP header
        rtp(1, b"", version=1),                     # wrong version
        rtp(2, b"\x18\x00\xff\x67"),                # STAP-A whose length runs past the end
        rtp(3, b"\x7c\x05" + b"\x00" * 10, marker=False),  # FU-A middle without a start
        rtp(4, b"\x9c\x00abc"),                     # forbidden bit set, nonsense
        struct.pack(">BBHII", 0x8F, 96, 5, 0, 0),   # CSRC count past the end
        struct.pack(">BBHII", 0x90, 96, 6, 0, 0) + b"\x00\x00\xff\xff",  # extension past the end
        struct.pack(">BBHII", 0xA0, 96, 7, 0, 0) + b"\x01\xff",  # padding longer than the packet
    ]
    for j in junk:
        pub.send_raw(interleaved(0, j))
    # A good keyframe after the garbage still goes through to a viewer of this camera.
    wait_for(lambda: srv.find(r"malformed RTP packet dropped"), 10, "a log line naming the malformed packet")
    still_flowing(viewer)
    assert srv.alive()
    pub.close()


def test_viewer_never_gets_frames_of_another_camera(healthy, procs):
    """Two cameras, a viewer of each: every packet a viewer gets has its camera's SSRC and payload."""
    srv, cam, viewer = healthy
    cam2 = srv.add_camera("second")
    push_camera(procs, make_clip("h265_aac"), cam2["ingest_url"])
    wait_live(srv, cam2["id"])
    v2 = Client("127.0.0.1", srv.port)
    assert v2.play_tcp(srv.url(cam2["id"])).status == 200
    ssrcs1, ssrcs2 = set(), set()
    for _ in range(200):
        ch, p = viewer.read_packet(timeout=5 * SLOW)
        if ch == 0:
            ssrcs1.add(rtp_header(p)[4])
            assert rtp_header(p)[1] == 96
        ch, p = v2.read_packet(timeout=5 * SLOW)
        if ch == 0:
            ssrcs2.add(rtp_header(p)[4])
            # H.265 NAL header: type in bits 1..6, never an H.264 one-byte header pattern from camera 1
            payload = rtp_header(p)[5]
            assert (payload[0] >> 1) & 0x3F in range(0, 50)
    assert len(ssrcs1) == 1 and len(ssrcs2) == 1 and ssrcs1 != ssrcs2
    v2.close()


def test_connection_limit_refuses_extra_and_recovers(server):
    srv = server(config={"max_connections": 3})
    held = [Client("127.0.0.1", srv.port) for _ in range(3)]
    for c in held:
        assert c.request("OPTIONS", "*").status == 200
    extra = socket.create_connection(("127.0.0.1", srv.port), timeout=5 * SLOW)
    try:
        extra.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        try:
            got = extra.recv(4096)
        except ConnectionResetError:
            got = b""
        assert got == b"", "a connection over the limit was served"
    finally:
        extra.close()
    wait_for(lambda: srv.find(r"refusing connections: 3 open is the limit"), 5, "the refusal to be logged")
    held.pop().close()

    def served():
        c = Client("127.0.0.1", srv.port)
        try:
            return c.request("OPTIONS", "*").status == 200
        except (ConnectionError, OSError):
            return False
        finally:
            c.close()
    wait_for(served, 10, "a freed slot to be usable again")
    for c in held:
        c.close()


def fu_a(nal, size):
    """Splits one H.264 NAL into FU-A payloads of at most size bytes."""
    hdr, body = nal[0], nal[1:]
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    out = []
    for k, part in enumerate(parts):
        s = 0x80 if k == 0 else 0
        e = 0x40 if k == len(parts) - 1 else 0
        out.append(bytes([(hdr & 0xE0) | 28, s | e | (hdr & 0x1F)]) + part)
    return out


def reassemble_h264(payloads):
    """NAL units from a viewer's RTP payloads (single NAL and FU-A)."""
    nals, cur = [], None
    for p in payloads:
        t = p[0] & 0x1F
        if t == 28:
            if p[1] & 0x80:
                cur = bytearray([(p[0] & 0xE0) | (p[1] & 0x1F)])
            if cur is not None:
                cur += p[2:]
                if p[1] & 0x40:
                    nals.append(bytes(cur))
                    cur = None
        elif 1 <= t <= 23:
            nals.append(p)
    return nals


def test_udp_ingest_puts_reordered_packets_back_in_order(server):
    srv = server()
    cam = srv.add_camera("udp-reorder")
    url = cam["ingest_url"]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    pub = Client("127.0.0.1", srv.port)
    try:
        assert pub.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, GOOD_SDP.encode()).status == 200
        r = pub.request("SETUP", url + "/streamid=0",
                        {"Transport": f"RTP/AVP;unicast;client_port={port}-{port + 1};mode=record"})
        assert r.status == 200
        server_port = int(re.search(r"server_port=(\d+)", r.header("transport")).group(1))
        assert pub.request("RECORD", url, {"Range": "npt=0.000-"}).status == 200
        viewer = Client("127.0.0.1", srv.port)
        assert viewer.play_tcp(srv.url(cam["id"])).status == 200

        idr = bytes([0x65]) + bytes((i * 7 + 3) & 0xFF for i in range(6000))
        frags = fu_a(idr, 1000)
        pkts = [rtp(10 + k, f, marker=(k == len(frags) - 1), ts=9000) for k, f in enumerate(frags)]
        order = [0, 2, 1, 4, 3, 5]  # neighbour pairs swapped on the way
        assert sorted(order) == list(range(len(pkts)))
        for k in order:
            udp.sendto(pkts[k], ("127.0.0.1", server_port))
        pslice = bytes([0x41, 0x9A, 0x02, 0x04])
        udp.sendto(rtp(10 + len(pkts), pslice, ts=12600), ("127.0.0.1", server_port))

        payloads = []
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            ch, pkt = viewer.read_packet(timeout=10 * SLOW)
            if ch == 0:
                payloads.append(rtp_header(pkt)[5])
                nals = reassemble_h264(payloads)
                if len(nals) >= 2:
                    break
        nals = reassemble_h264(payloads)
        assert nals[:2] == [idr, pslice], "the reordered keyframe did not arrive intact"
        viewer.close()
    finally:
        pub.close()
        udp.close()
