"""The chaos test's user-space hostile network (tests/chaos/faultproxy.py), checked
against local echo servers and once against the real camvault."""
import os
import random
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SLOW, ffprobe_streams, make_clip, push_camera, wait_for, wait_live

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
from faultproxy import FaultNet  # noqa: E402


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        rec = bytearray()
        with srv.lock:
            srv.received.append(rec)
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                with srv.lock:
                    rec.extend(data)
                if srv.echo:
                    self.request.sendall(data)
        except OSError as e:
            with srv.lock:
                srv.errors.append(e)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, echo=True):
        super().__init__(("127.0.0.1", 0), _Echo)
        self.echo = echo
        self.lock = threading.Lock()
        self.received = []
        self.errors = []
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def addr(self):
        return self.server_address

    def got(self, i=0):
        with self.lock:
            return bytes(self.received[i]) if len(self.received) > i else b""


@pytest.fixture
def echo():
    srv = EchoServer()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def net():
    with FaultNet(seed=5) as n:
        yield n


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(1 << 16, n - len(buf)))
        if not d:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf.extend(d)
    return bytes(buf)


def echo_roundtrip(s, payload):
    """Sends payload from a thread while reading the echo back; returns it."""
    err = []

    def send():
        try:
            s.sendall(payload)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = recv_exact(s, len(payload))
    t.join(10 * SLOW)
    assert not err, err
    return got


def ping_rtt(s, msg=b"ping"):
    t0 = time.monotonic()
    s.sendall(msg)
    assert recv_exact(s, len(msg)) == msg
    return time.monotonic() - t0


# ---------------------------------------------------------------- TCP


def test_tcp_passthrough_1mb_byte_exact(net, echo):
    p = net.tcp(echo.addr)
    payload = random.Random(1).randbytes(1 << 20)
    with connect(p.port) as s:
        assert echo_roundtrip(s, payload) == payload
    wait_for(lambda: echo.got() == payload, 10, "server to see all bytes")
    st = wait_for(lambda: (lambda st: st["bytes_to_client"] == 1 << 20 and st)(p.stats()), 5, "byte counters")
    assert st["connections"] == 1
    assert st["bytes_to_target"] == 1 << 20


def test_tcp_delay_adds_latency(net, echo):
    p = net.tcp(echo.addr)
    with connect(p.port) as s:
        base = ping_rtt(s)
        p.delay_ms = 100
        rtts = [ping_rtt(s) for _ in range(3)]
        p.delay_ms, p.jitter_ms = 60, 40
        jittered = [ping_rtt(s) for _ in range(5)]
        p.delay_ms = p.jitter_ms = 0
        after = ping_rtt(s)
    assert min(rtts) >= 0.19, rtts  # 100 ms each way
    assert max(rtts) < 3 * SLOW, rtts
    assert min(jittered) >= 0.039, jittered  # >= 20 ms each way
    assert base < 0.15 and after < 0.5 * SLOW, (base, after)


def test_tcp_bandwidth_cap(net, echo):
    p = net.tcp(echo.addr, bandwidth_kbps=800)  # 100 kB/s
    payload = os.urandom(200_000)
    with connect(p.port) as s:
        t0 = time.monotonic()
        got = echo_roundtrip(s, payload)
        dt = time.monotonic() - t0
    assert got == payload
    assert dt >= 1.5, dt
    assert dt < 10 * SLOW, dt


def test_tcp_stall_then_resume(net, echo):
    p = net.tcp(echo.addr)
    with connect(p.port) as s:
        assert ping_rtt(s) < 1 * SLOW
        p.stall(1.0)
        t0 = time.monotonic()
        s.sendall(b"during")
        s.settimeout(0.7)
        with pytest.raises(socket.timeout):
            s.recv(100)  # nothing comes back during the stall
        assert echo.got() == b"ping"  # nor reached the server
        s.settimeout(10 * SLOW)
        assert recv_exact(s, 6) == b"during"
        assert time.monotonic() - t0 >= 0.9
        assert ping_rtt(s) < 1 * SLOW  # resumed for good
    assert p.stats()["faults"]["stall"] == 1


def test_tcp_cut_all_resets_both_sides(net, echo):
    p = net.tcp(echo.addr)
    with connect(p.port) as s:
        ping_rtt(s)
        assert p.cut_all() == 1
        t0 = time.monotonic()
        try:
            d = s.recv(100)
            assert d == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 2 * SLOW
    wait_for(lambda: p.stats()["active"] == 0, 5, "proxy to forget the connection")
    assert p.stats()["faults"]["cut"] == 1


def test_tcp_half_close(net, echo):
    p = net.tcp(echo.addr)
    with connect(p.port) as s:
        ping_rtt(s)
        assert p.half_close_all() == 1
        t0 = time.monotonic()
        assert s.recv(100) == b""  # EOF toward the client
        assert time.monotonic() - t0 < 2 * SLOW
        s.sendall(b"still-writing")  # ... while its writes still reach the server
        wait_for(lambda: echo.got() == b"pingstill-writing", 5, "server to get post-half-close bytes")
    assert p.stats()["faults"]["half_close"] == 1
    wait_for(lambda: p.stats()["discarded"] >= len(b"still-writing"), 5, "echoed bytes to be discarded")


def _reset_pattern(net, echo, seed, n=10):
    p = net.tcp(echo.addr, seed=seed)
    socks = []
    try:
        for _ in range(n):  # one at a time so accept order == list order
            socks.append(connect(p.port))
            ping_rtt(socks[-1])
        wait_for(lambda: p.stats()["active"] == n, 5, f"{n} live connections")
        assert p.reset_random(0.0) == 0
        cut = p.reset_random(0.5)
        wait_for(lambda: p.stats()["active"] == n - cut, 5, "cut connections to go")
        dead = []
        for i, s in enumerate(socks):
            s.settimeout(0.01)
            try:
                if s.recv(1) == b"":
                    dead.append(i)
            except ConnectionResetError:
                dead.append(i)
            except socket.timeout:
                pass
        assert len(dead) == cut
        return dead
    finally:
        for s in socks:
            s.close()


def test_tcp_reset_random_is_seeded(net, echo):
    a = _reset_pattern(net, echo, seed=9)
    b = _reset_pattern(net, echo, seed=9)
    assert 0 < len(a) < 10, a
    assert a == b


def test_tcp_stalled_direction_is_bounded(net):
    """A stalled proxy stops reading at max_buffer, so the sender gets backpressure."""
    sink = EchoServer(echo=False)
    try:
        p = net.tcp(sink.addr, max_buffer=256 << 10)
        with connect(p.port) as s:
            s.sendall(b"x")
            wait_for(lambda: sink.got() == b"x", 5, "first byte")
            p.stall(30)
            s.setblocking(False)
            sent = 0
            idle_since = time.monotonic()
            deadline = time.monotonic() + 10 * SLOW
            while time.monotonic() - idle_since < 0.5:  # until the client can write no more for 0.5 s
                assert time.monotonic() < deadline, f"sender never blocked after {sent} bytes"
                try:
                    sent += s.send(b"y" * 65536)
                    idle_since = time.monotonic()
                except BlockingIOError:
                    time.sleep(0.02)
            # proxy buffer (256 KiB + one read) plus kernel socket buffers, far below "unbounded"
            assert p.stats()["buffered_to_target"] <= (256 << 10) + 65536, p.stats()
            assert sent < 24 << 20, sent
            assert sink.got() == b"x"
            p.stall(0)
            wait_for(lambda: len(sink.got()) == sent + 1, 10, "buffered bytes to flow after the stall")
    finally:
        sink.shutdown()
        sink.server_close()


# ---------------------------------------------------------------- UDP


class UdpSink:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.seqs = []

    @property
    def addr(self):
        return self.sock.getsockname()

    def drain(self):
        while True:
            try:
                d, _ = self.sock.recvfrom(2048)
            except (socket.timeout, BlockingIOError):
                return
            self.seqs.append(int.from_bytes(d[:4], "big"))

    def close(self):
        self.sock.close()


def send_numbered(net, n=2000, batch=50, size=200, **faults):
    sink = UdpSink()
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        p = net.udp(sink.addr, **faults)
        pad = b"\0" * (size - 4)
        for start in range(0, n, batch):
            for i in range(start, min(n, start + batch)):
                cli.sendto(i.to_bytes(4, "big") + pad, ("127.0.0.1", p.port))
            sent = min(n, start + batch)

            def caught_up():
                # everything read by the proxy, and sent on unless held back for reordering
                # (so at most one batch is ever in flight: no kernel buffer overflows)
                sink.drain()
                c = p.stats()["to_target"]
                return c["in"] == sent and len(sink.seqs) >= c["out"] and not _in_flight(p)
            try:
                wait_for(caught_up, 10, f"batch ending {sent} to pass the proxy", interval=0.002)
            except AssertionError as e:
                raise AssertionError(f"{e}: sink has {len(sink.seqs)}, proxy {p.stats()}") from None
        deadline = time.monotonic() + 2 * SLOW
        while time.monotonic() < deadline:  # held-back (reordered/delayed) datagrams
            sink.drain()
            if not _pending(p) and len(sink.seqs) >= p.stats()["to_target"]["out"]:
                break
            time.sleep(0.005)
        sink.drain()
        return sink.seqs, p
    finally:
        cli.close()
        sink.close()


def _in_flight(p):
    d = p._dirs["to_target"]
    return bool(d.fifo) or d.queued != sum(len(item[1]) for item in list(d.held))


def _pending(p):
    d = p._dirs["to_target"]
    return bool(d.held or d.fifo or d.queued)


def test_udp_clean_in_order(net):
    seqs, p = send_numbered(net)
    assert seqs == list(range(2000))
    assert p.stats()["to_target"]["out"] == 2000


def test_udp_loss(net):
    seqs, p = send_numbered(net, loss=0.2)
    c = p.stats()["to_target"]
    assert 0.72 * 2000 < len(seqs) < 0.88 * 2000, len(seqs)
    assert c["dropped"] + len(seqs) == 2000
    assert seqs == sorted(seqs)


def test_udp_duplicate(net):
    seqs, p = send_numbered(net, duplicate=0.1)
    assert sorted(set(seqs)) == list(range(2000))
    dups = len(seqs) - len(set(seqs))
    assert 100 < dups < 300, dups
    assert p.stats()["to_target"]["duplicated"] == dups


def test_udp_reorder(net):
    seqs, p = send_numbered(net, reorder=0.05, reorder_gap=3)
    assert sorted(seqs) == list(range(2000))  # nothing lost
    inversions = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    assert inversions > 20, inversions
    assert p.stats()["to_target"]["reordered"] > 20


def test_udp_delay_jitter_delivers_all(net):
    seqs, _ = send_numbered(net, n=500, delay_ms=20, jitter_ms=15)
    assert sorted(seqs) == list(range(500))


def test_udp_seeded_runs_reproducible(net):
    a, _ = send_numbered(net, seed=42, loss=0.3)
    b, _ = send_numbered(net, seed=42, loss=0.3, duplicate=0.0)
    c, _ = send_numbered(net, seed=43, loss=0.3)
    assert a == b
    assert a != c


def test_udp_replies_go_back_to_each_client(net):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5 * SLOW)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        p = net.udp(srv.getsockname())
        for i, c in enumerate(clients):
            c.settimeout(5 * SLOW)
            c.sendto(b"hello%d" % i, ("127.0.0.1", p.port))
            d, addr = srv.recvfrom(100)
            assert d == b"hello%d" % i
            srv.sendto(b"reply-" + d, addr)
            assert c.recvfrom(100)[0] == b"reply-hello%d" % i
        assert p.stats()["clients"] == 2
    finally:
        srv.close()
        for c in clients:
            c.close()


# ---------------------------------------------------------------- real camvault


def test_rtsp_viewer_through_jittery_proxy(server, procs, net):
    srv = server()
    cam = srv.add_camera("cam-chaos")
    push_camera(procs, make_clip("h264_only"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    p = net.tcp(("127.0.0.1", srv.port), delay_ms=50, jitter_ms=20)
    url = srv.url(cam["id"])
    proxied = url.replace(f"127.0.0.1:{srv.port}/", f"127.0.0.1:{p.port}/")
    assert proxied != url
    streams = ffprobe_streams(proxied)
    video = [s for s in streams if s["codec_type"] == "video"]
    assert video and video[0]["codec_name"] == "h264", streams
    st = p.stats()
    assert st["connections"] >= 1 and st["bytes_to_client"] > 0
