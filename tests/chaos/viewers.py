"""Chaos viewers: real protocol clients that check the origin of every frame
they receive (issue 5).

A viewer is a thread that watches one camera over one delivery path, the
way a real client would: it connects, plays, and when anything goes wrong
(refused, cut, stalled, garbage) it backs off and connects again, forever,
with the token it was given. Every access unit / picture it receives goes
through ``Tally.frame``, which compares the camera id read from the frame
(the SEI watermark for compressed paths, the id drawn in the picture for
decoded ones) with the camera the viewer is authorised for.

Paths: ``rtsp-tcp`` and ``rtsp-udp`` (RTSP/RTP, hand-written client so each
RTP packet is seen), ``hls`` (LL-HLS: blocking playlist reloads, every part
fetched), ``mp4`` (progressive fMP4), ``snapshot`` (a JPEG every second),
``mjpeg`` (multipart JPEG stream).

Run as a worker process by ``chaos.py``: ``python3 viewers.py`` reads JSON
commands on stdin (start / revoke / kick / udp / quit) and writes a JSON tally
of every viewer on stdout each second. See ``Worker``.
"""
import http.client
import io
import json
import os
import random
import re
import select
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import media  # noqa: E402
from PIL import Image  # noqa: E402
import pattern  # noqa: E402
from faultproxy import FaultNet  # noqa: E402

LATE_ALLOWANCE_S = 1.0
IDLE_S = 8.0  # no verified frame for this long: reconnect (a real player would too)


class Refused(Exception):
    """The server answered with an error status (expected after revocation)."""

    def __init__(self, status):
        super().__init__(f"status {status}")
        self.status = status


class Tally:
    """Counters of one viewer. Updated by its thread, read by the reporter."""

    def __init__(self, spec):
        self.lock = threading.Lock()
        self.expect = spec["expect"]
        self.control = bool(spec.get("control"))
        self.revoked_at = None
        self.c = dict(ok=0, foreign=0, late=0, unread=0, sessions=0, refused=0, errors=0, last_ok=0.0,
                      first_ok=0.0, last_frame=0.0, last_error="", foreign_ids=[], late_examples=[])

    def frame(self, result, t, req_t=None):
        """result: (camera_id_hex, seq, capture_us) or None (no readable id);
        t: when it was received; req_t: when the request that brought it was
        sent (request/response paths: HLS parts, snapshots).

        Late means the server let it through more than LATE_ALLOWANCE_S after
        the revocation: the camera captured it after that (SEI capture time),
        or it answers a request sent after that. Pictures with no capture time
        on a stream (MJPEG, always watched directly) go by arrival time. Bytes
        a hostile network held back are not late: the server sent them in time."""
        with self.lock:
            c = self.c
            c["last_frame"] = t
            if self.revoked_at is not None:
                limit = self.revoked_at + LATE_ALLOWANCE_S
                cap = result[2] / 1e6 if result and result[2] > 1e15 else None
                if ((cap is not None and cap > limit) or (req_t is not None and req_t > limit)
                        or (cap is None and req_t is None and t > limit)):
                    c["late"] += 1
                    if len(c["late_examples"]) < 3:
                        c["late_examples"].append([round(t - self.revoked_at, 3),
                                                   round(cap - self.revoked_at, 3) if cap else None,
                                                   round(req_t - self.revoked_at, 3) if req_t else None,
                                                   result[0] if result else None])
            if result is None:
                c["unread"] += 1
                return
            if result[0] != self.expect:
                c["foreign"] += 1
                if result[0] not in c["foreign_ids"] and len(c["foreign_ids"]) < 4:
                    c["foreign_ids"].append(result[0])
                return
            c["ok"] += 1
            c["last_ok"] = t
            if not c["first_ok"]:
                c["first_ok"] = t

    def bump(self, key, text=None):
        with self.lock:
            self.c[key] += 1
            if text:
                self.c["last_error"] = text[:200]

    def snapshot(self):
        with self.lock:
            d = dict(self.c)
            d["foreign_ids"] = list(d["foreign_ids"])
            d["late_examples"] = list(d["late_examples"])
            d["revoked_at"] = self.revoked_at
            return d


class Viewer(threading.Thread):
    def __init__(self, spec, worker):
        super().__init__(daemon=True, name=f"viewer-{spec['id']}")
        self.spec = spec
        self.worker = worker
        self.tally = Tally(spec)
        self.stop_ev = threading.Event()
        self.kick_ev = threading.Event()
        self.sock_lock = threading.Lock()
        self.socks = []
        self.rng = random.Random(spec.get("seed", 0))
        self.uproxy = None

    # -- plumbing shared by the paths --------------------------------------
    def _track(self, s):
        with self.sock_lock:
            self.socks.append(s)
        return s

    def _untrack_all(self):
        with self.sock_lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    def kick(self):
        """Drop the current connection and reconnect at once (viewer storm)."""
        self.kick_ev.set()
        with self.sock_lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stop_ev.set()
        self.kick()

    def running(self):
        return not self.stop_ev.is_set() and not self.kick_ev.is_set()

    def run(self):
        backoff = 0.25
        while not self.stop_ev.is_set():
            self.kick_ev.clear()
            self.tally.bump("sessions")
            try:
                getattr(self, "_" + self.spec["kind"].replace("-", "_"))()
                backoff = 0.25
            except Refused as e:
                self.tally.bump("refused", f"refused {e.status}")
            except Exception as e:  # noqa: BLE001 - a viewer survives anything and retries
                if not self.stop_ev.is_set():
                    self.tally.bump("errors", f"{type(e).__name__}: {e}")
            finally:
                self._untrack_all()
                if self.uproxy is not None:
                    self.worker.drop_udp_proxy(self.uproxy)
                    self.uproxy = None
            if self.kick_ev.is_set() and not self.stop_ev.is_set():
                continue  # storm: straight back
            self.stop_ev.wait(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, 3.0)

    def _idle(self):
        """True when this session has shown nothing verifiable for IDLE_S."""
        return time.time() - max(self.session_start, self.tally.c["last_frame"]) > IDLE_S

    # -- RTSP ---------------------------------------------------------------
    def _rtsp_request(self, s, rbuf, method, url, headers=""):
        self.cseq += 1
        s.sendall(f"{method} {url} RTSP/1.0\r\nCSeq: {self.cseq}\r\nUser-Agent: chaos\r\n{headers}\r\n".encode())
        while b"\r\n\r\n" not in rbuf:
            d = s.recv(65536)
            if not d:
                raise ConnectionError(f"closed during {method}")
            rbuf += d
        head, _, rest = bytes(rbuf).partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        clen = int(hdrs.get("content-length", "0"))
        while len(rest) < clen:
            d = s.recv(65536)
            if not d:
                raise ConnectionError(f"closed during {method} body")
            rest += d
        body, rest = rest[:clen], rest[clen:]
        rbuf[:] = rest
        if status != 200:
            raise Refused(status)
        return hdrs, body.decode(errors="replace")

    def _rtsp(self, udp):
        sp = self.spec
        base = f"rtsp://127.0.0.1:{sp['port']}/cam/{sp['camera']}"
        q = f"?token={sp['token']}"
        self.cseq = 0
        self.session_start = time.time()
        s = self._track(socket.create_connection(("127.0.0.1", sp["port"]), timeout=10))
        rbuf = bytearray()
        hdrs, sdp = self._rtsp_request(s, rbuf, "DESCRIBE", base + q, "Accept: application/sdp\r\n")
        cbase = hdrs.get("content-base", base + "/")
        control = None
        in_video = False
        for line in sdp.splitlines():
            if line.startswith("m="):
                in_video = line.startswith("m=video")
            elif in_video and line.startswith("a=control:"):
                control = line[len("a=control:"):].strip()
        if control is None:
            raise ConnectionError("no video control in SDP")
        url = control if control.startswith("rtsp://") else cbase + control
        usock = None
        if udp:
            usock = self._track(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            usock.bind(("127.0.0.1", 0))
            usock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            port = usock.getsockname()[1]
            if sp.get("udp_proxy"):
                self.uproxy = self.worker.udp_proxy(("127.0.0.1", port))
                port = self.uproxy.port
            transport = f"RTP/AVP;unicast;client_port={port}-{port + 1}"
        else:
            transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
        hdrs, _ = self._rtsp_request(s, rbuf, "SETUP", url + q, f"Transport: {transport}\r\n")
        session = hdrs.get("session", "").split(";")[0]
        if usock:
            usock.setblocking(False)
        self._rtsp_request(s, rbuf, "PLAY", base + q, f"Session: {session}\r\nRange: npt=0.000-\r\n")
        depack = media.RtpH264()
        last_keepalive = time.time()
        s.settimeout(None)
        s.setblocking(False)
        while self.running():
            now = time.time()
            if now - last_keepalive > 15:
                self.cseq += 1
                s.setblocking(True)
                s.settimeout(5)
                s.sendall(f"GET_PARAMETER {base}{q} RTSP/1.0\r\nCSeq: {self.cseq}\r\nSession: {session}\r\n\r\n".encode())
                s.setblocking(False)
                last_keepalive = now
            if self._idle():
                raise TimeoutError("no frames for %.0f s" % IDLE_S)
            rl = [s] + ([usock] if usock else [])
            ready, _, _ = select.select(rl, [], [], 0.5)
            if usock in ready:
                for _ in range(256):
                    try:
                        pkt = usock.recv(65536)
                    except BlockingIOError:
                        break
                    t = time.time()
                    for r in depack.packet(pkt):
                        self.tally.frame(r, t)
            if s in ready:
                try:
                    d = s.recv(1 << 18)
                except BlockingIOError:
                    continue
                if not d:
                    raise ConnectionError("server closed the RTSP connection")
                rbuf += d
                t = time.time()
                self._interleaved(rbuf, depack, t)

    def _interleaved(self, rbuf, depack, t):
        i = 0
        n = len(rbuf)
        while i < n:
            if rbuf[i] == 0x24:  # '$'
                if i + 4 > n:
                    break
                ch, size = rbuf[i + 1], struct.unpack_from(">H", rbuf, i + 2)[0]
                if i + 4 + size > n:
                    break
                if ch == 0:
                    for r in depack.packet(bytes(rbuf[i + 4:i + 4 + size])):
                        self.tally.frame(r, t)
                i += 4 + size
            elif rbuf[i:i + 5] == b"RTSP/" or n - i < 5:
                e = rbuf.find(b"\r\n\r\n", i)
                if e < 0:
                    break
                m = re.search(rb"content-length:\s*(\d+)", bytes(rbuf[i:e]), re.I)
                clen = int(m.group(1)) if m else 0
                if e + 4 + clen > n:
                    break
                i = e + 4 + clen
            else:
                raise ConnectionError("lost interleaved framing")
        del rbuf[:i]

    def _rtsp_tcp(self):
        self._rtsp(udp=False)

    def _rtsp_udp(self):
        self._rtsp(udp=True)

    # -- HTTP ---------------------------------------------------------------
    def _conn(self):
        c = http.client.HTTPConnection("127.0.0.1", self.spec["http_port"], timeout=10)
        c.connect()
        self._track(c.sock)
        return c

    def _get(self, c, path):
        c.request("GET", path)
        r = c.getresponse()
        if r.status != 200:
            r.read()
            raise Refused(r.status)
        return r

    def _mp4(self):
        sp = self.spec
        self.session_start = time.time()
        c = self._conn()
        r = self._get(c, f"/cam/{sp['camera']}/live.mp4?token={sp['token']}")
        reader = media.Fmp4Reader()
        while self.running():
            if self._idle():
                raise TimeoutError("no frames for %.0f s" % IDLE_S)
            d = r.read1(1 << 16)
            if not d:
                raise ConnectionError("MP4 stream ended")
            t = time.time()
            for res in reader.feed(d):
                self.tally.frame(res, t)
            if reader.bad:
                raise ConnectionError("malformed fMP4")

    PART_RE = re.compile(r'#EXT-X-PART:[^\n]*URI="p(\d+)\.(\d+)\.m4s\?s=([0-9a-f]+)"')
    HINT_RE = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s')

    def _hls(self):
        sp = self.spec
        self.session_start = time.time()
        c = self._conn()
        body = self._get(c, f"/cam/{sp['camera']}/index.m3u8?token={sp['token']}").read().decode()
        media_uri = next((ln for ln in body.splitlines() if ln and not ln.startswith("#")), None)
        if not media_uri:
            raise ConnectionError("no rendition in the multivariant playlist")
        root = f"/cam/{sp['camera']}/" + media_uri.rsplit("/", 1)[0] + "/"
        mpath = f"/cam/{sp['camera']}/" + media_uri
        want = None  # (msn, part) to fetch next
        while self.running():
            if self._idle():
                raise TimeoutError("no frames for %.0f s" % IDLE_S)
            path = mpath if want is None else f"{mpath}&_HLS_msn={want[0]}&_HLS_part={want[1]}"
            text = self._get(c, path).read().decode()
            parts = [(int(a), int(b), s) for a, b, s in self.PART_RE.findall(text)]
            hint = self.HINT_RE.search(text)
            if not parts:
                continue
            sid = parts[0][2]
            if want is None:
                want = parts[-1][:2]  # start at the newest part, like a low-latency player
            # Every part from the one wanted on; a player that fell behind the
            # playlist window resumes at its oldest part.
            pending = [p for p in parts if p[:2] >= want]
            if not pending and parts[-1][:2] < want and hint is None:
                want = None
                continue
            for msn, idx, _ in pending:
                if not self.running():
                    return
                req_t = time.time()
                r = self._get(c, f"{root}p{msn}.{idx}.m4s?s={sid}")
                data = r.read()
                t = time.time()
                for res in media.Fmp4Reader().feed(data):  # no moov in a part: the first traf (camsim sends video only)
                    self.tally.frame(res, t, req_t)
                want = (msn, idx + 1)
            if hint:
                want = (int(hint.group(1)), int(hint.group(2)))

    def _snapshot(self):
        sp = self.spec
        self.session_start = time.time()
        c = self._conn()
        while self.running():
            req_t = time.time()
            c.request("GET", f"/cam/{sp['camera']}/snapshot.jpg?token={sp['token']}")
            r = c.getresponse()
            data = r.read()
            t = time.time()
            if r.status == 503:
                self.tally.c["last_frame"] = t  # offline is an answer, not a stall
            elif r.status != 200:
                raise Refused(r.status)
            else:
                self.tally.frame(_decode_jpeg(data), t, req_t)
            self.stop_ev.wait(sp.get("interval", 1.0))
            if self.kick_ev.is_set():
                return

    def _mjpeg(self):
        sp = self.spec
        self.session_start = time.time()
        c = self._conn()
        r = self._get(c, f"/cam/{sp['camera']}/live.mjpeg?fps={sp.get('fps', 2)}&token={sp['token']}")
        ctype = r.getheader("Content-Type", "")
        m = re.search(r'boundary="?([^";]+)', ctype)
        if not m:
            raise ConnectionError(f"not multipart: {ctype}")
        delim = b"--" + m.group(1).encode()
        buf = bytearray()
        while self.running():
            if self._idle():
                raise TimeoutError("no pictures for %.0f s" % IDLE_S)
            d = r.read1(1 << 16)
            if not d:
                raise ConnectionError("MJPEG stream ended")
            buf += d
            while True:
                i = buf.find(delim)
                if i < 0:
                    break
                h = buf.find(b"\r\n\r\n", i)
                if h < 0:
                    break
                head = bytes(buf[i:h]).decode(errors="replace")
                lm = re.search(r"content-length:\s*(\d+)", head, re.I)
                if not lm:
                    raise ConnectionError("MJPEG part without Content-Length")
                size = int(lm.group(1))
                if len(buf) < h + 4 + size:
                    break
                jpeg = bytes(buf[h + 4:h + 4 + size])
                del buf[:h + 4 + size]
                self.tally.frame(_decode_jpeg(jpeg), time.time())


def _decode_jpeg(data):
    """The id drawn in a JPEG, decoded in-process with Pillow (Debian's
    python3-pil): an ffmpeg process per picture would cost the run more
    CPU than camvault does."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                return None
            g = im.convert("L")
            return pattern.decode_frame(g.tobytes(), g.width, g.height)
    except (ValueError, OSError, Image.DecompressionBombError):
        return None


class Worker:
    """Runs viewers in this process; commands on stdin, tallies on stdout."""

    def __init__(self, seed):
        self.viewers = {}
        self.net = None
        self.udp_faults = {}
        self.seed = seed
        self.lock = threading.Lock()
        self.proxies = []
        self.udp_retired = dict.fromkeys(self.UDP_KEYS, 0)

    def udp_proxy(self, target):
        with self.lock:
            if self.net is None:
                self.net = FaultNet(seed=self.seed).start()
            p = self.net.udp(target, direction="to_target", **self.udp_faults)
            self.proxies.append(p)
            return p

    UDP_KEYS = ("in", "out", "dropped", "duplicated", "reordered")

    def drop_udp_proxy(self, p):
        st = p.stats()["to_target"]
        with self.lock:
            self.proxies.remove(p)
            for k in self.UDP_KEYS:
                self.udp_retired[k] += st[k]
        self.net.run(p.stop())

    def udp_stats(self):
        with self.lock:
            tot = dict(self.udp_retired)
            for p in self.proxies:
                st = p.stats()["to_target"]
                for k in self.UDP_KEYS:
                    tot[k] += st[k]
        return tot

    def set_udp(self, faults):
        with self.lock:
            self.udp_faults = faults
            for p in self.proxies:
                for k, v in faults.items():
                    setattr(p, k, v)

    def report(self, final=False):
        out = {"op": "final" if final else "tally", "t": time.time(),
               "v": {vid: v.tally.snapshot() for vid, v in list(self.viewers.items())}}
        if self.net is not None:
            out["udp"] = self.udp_stats()
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()

    def main(self):
        stop = threading.Event()

        def reporter():
            while not stop.wait(1.0):
                self.report()

        threading.Thread(target=reporter, daemon=True).start()
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "start":
                v = Viewer(cmd["spec"], self)
                self.viewers[cmd["spec"]["id"]] = v
                v.start()
            elif op == "revoke":
                v = self.viewers.get(cmd["id"])
                if v:
                    with v.tally.lock:
                        v.tally.revoked_at = cmd["t"]
            elif op == "kick":
                for vid in cmd["ids"]:
                    if vid in self.viewers:
                        self.viewers[vid].kick()
            elif op == "udp":
                self.set_udp(cmd["faults"])
            elif op == "quit":
                break
        stop.set()
        for v in self.viewers.values():
            v.stop()
        for v in self.viewers.values():
            v.join(timeout=15)
        self.report(final=True)
        if self.net:
            self.net.stop()


if __name__ == "__main__":
    Worker(int(sys.argv[1]) if len(sys.argv) > 1 else 0).main()
