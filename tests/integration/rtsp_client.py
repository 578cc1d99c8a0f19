"""A small RTSP/1.0 test client over a raw socket (stdlib only).

It exists to assert on bytes real players hide: status codes for malformed
input, RTP-Info, interleaved RTP/RTCP packets, which NAL unit arrives first.
Every read has a deadline."""
import hashlib
import os
import re
import socket
import struct
import time
from urllib.parse import unquote


class RtspError(Exception):
    pass


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


class Client:
    creds = None  # (user, password) from a URL's userinfo
    challenge = None  # the server's Digest parameters after a 401
    nc = 0
    def __init__(self, host, port, timeout=10.0, source=None):
        """source: a local address to connect from (127.0.0.2 plays "another client")."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.cseq = 0
        self.session = None
        self.packets = []  # (channel, bytes) read while waiting for a response
        self.creds = None  # (user, password) from a URL's userinfo
        self.challenge = None  # the server's Digest parameters after a 401
        self.nc = 0

    @staticmethod
    def split_userinfo(url):
        """rtsp://user:pass@host/... -> (rtsp://host/..., (user, pass)) or (url, None)."""
        m = re.match(r"(rtsps?://)([^/@]*)@(.*)", url)
        if not m:
            return url, None
        user, _, pw = m.group(2).partition(":")
        return m.group(1) + m.group(3), (unquote(user), unquote(pw))

    def _authorization(self, method, url):
        """RFC 2617 Digest (MD5, qop=auth when offered), as ffmpeg and VLC answer."""
        if not (self.creds and self.challenge):
            return None
        ch = self.challenge
        user, pw = self.creds
        md5 = lambda x: hashlib.md5(x.encode()).hexdigest()
        ha1 = md5(f"{user}:{ch['realm']}:{pw}")
        ha2 = md5(f"{method}:{url}")
        parts = [f'username="{user}"', f'realm="{ch["realm"]}"', f'nonce="{ch["nonce"]}"', f'uri="{url}"']
        if "auth" in ch.get("qop", ""):
            self.nc += 1
            nc = f"{self.nc:08x}"
            cnonce = os.urandom(8).hex()
            resp = md5(f"{ha1}:{ch['nonce']}:{nc}:{cnonce}:auth:{ha2}")
            parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            resp = md5(f"{ha1}:{ch['nonce']}:{ha2}")
        parts.append(f'response="{resp}"')
        return "Digest " + ", ".join(parts)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def request(self, method, url, headers=None, body=b"", timeout=10.0):
        """Sends a request; with credentials in the URL, answers a Digest
        challenge once (and keeps authenticating later requests)."""
        url, creds = self.split_userinfo(url)
        if creds:
            self.creds = creds
        r = self._request(method, url, headers, body, timeout)
        if r.status == 401 and self.creds:
            m = re.match(r"Digest\s+(.*)", r.header("www-authenticate", ""))
            if m:
                self.challenge = dict(re.findall(r'(\w+)="?([^",]*)"?', m.group(1)))
                r = self._request(method, url, headers, body, timeout)
        return r

    def _request(self, method, url, headers, body, timeout):
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: camvault-test"]
        auth = self._authorization(method, url)
        if auth:
            lines.append(f"Authorization: {auth}")
        if self.session and not (headers and "Session" in headers):
            lines.append(f"Session: {self.session}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.read_response(timeout)

    def read_response(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.buf[:1] == b"$":
                if len(self.buf) >= 4:
                    n = struct.unpack(">H", self.buf[2:4])[0]
                    if len(self.buf) >= 4 + n:
                        self.packets.append((self.buf[1], self.buf[4:4 + n]))
                        self.buf = self.buf[4 + n:]
                        continue
                self._fill(deadline)
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                self._fill(deadline)
                continue
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            m = re.match(r"RTSP/1\.0 (\d{3}) ?(.*)", lines[0])
            if not m:
                raise RtspError(f"bad status line {lines[0]!r}")
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0"))
            while len(self.buf) < end + 4 + n:
                self._fill(deadline)
            body = self.buf[end + 4:end + 4 + n]
            self.buf = self.buf[end + 4 + n:]
            sess = headers.get("session")
            if sess:
                self.session = sess.split(";")[0]
            return Response(int(m.group(1)), m.group(2), headers, body)

    def read_packet(self, timeout=10.0):
        """Next interleaved packet as (channel, payload)."""
        if self.packets:
            return self.packets.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                if self.buf[:1] != b"$":
                    # an RTSP message in between (e.g. a reply); skip it
                    self.read_response(max(0.1, deadline - time.monotonic()))
                    if self.packets:
                        return self.packets.pop(0)
                    continue
                n = struct.unpack(">H", self.buf[2:4])[0]
                if len(self.buf) >= 4 + n:
                    ch, payload = self.buf[1], self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return ch, payload
            self._fill(deadline)

    def play_tcp(self, url, tracks=(0,), timeout=10.0):
        """DESCRIBE, SETUP the given tracks over TCP interleaved, PLAY. Returns the PLAY response."""
        d = self.request("DESCRIBE", url, {"Accept": "application/sdp"}, timeout=timeout)
        if d.status != 200:
            return d
        base = d.header("content-base", self.split_userinfo(url)[0] + "/")
        for i in tracks:
            r = self.request("SETUP", f"{base}trackID={i}",
                             {"Transport": f"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"}, timeout=timeout)
            if r.status != 200:
                return r
        return self.request("PLAY", base, {"Range": "npt=0.000-"}, timeout=timeout)


def rtp_header(pkt):
    """(marker, payload_type, seq, ts, ssrc, payload)."""
    if len(pkt) < 12:
        raise RtspError("short RTP packet")
    b0, b1, seq, ts, ssrc = struct.unpack(">BBHII", pkt[:12])
    cc = b0 & 0x0F
    off = 12 + 4 * cc
    if b0 & 0x10:
        ext_len = struct.unpack(">H", pkt[off + 2:off + 4])[0]
        off += 4 + 4 * ext_len
    end = len(pkt)
    if b0 & 0x20:
        end -= pkt[-1]
    return bool(b1 & 0x80), b1 & 0x7F, seq, ts, ssrc, pkt[off:end]


def h264_nal_types(payload):
    """NAL unit types carried in one RTP payload (FU-A: the fragment's type, start only)."""
    t = payload[0] & 0x1F
    if t == 28:  # FU-A
        return [payload[1] & 0x1F] if payload[1] & 0x80 else []
    if t == 24:  # STAP-A
        out, i = [], 1
        while i + 2 <= len(payload):
            n = struct.unpack(">H", payload[i:i + 2])[0]
            if n == 0 or i + 2 + n > len(payload):
                break
            out.append(payload[i + 2] & 0x1F)
            i += 2 + n
        return out
    return [t]


def annexb_nals(data):
    """Splits an Annex B byte stream into NAL units (without start codes)."""
    out = []
    i, n = 0, len(data)
    starts = []
    while i < n - 2:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else n
        nal = data[s:e]
        while nal.endswith(b"\x00") and k + 1 < len(starts):
            nal = nal[:-1]  # a 4-byte start code's leading zero
        out.append(nal)
    return out


def frame_gaps(client, done, seconds, read_timeout):
    """Reads a playing TCP-interleaved client's video (channel 0) until done()
    or `seconds` pass. Returns (frames, the longest wait in seconds between
    two frames' last packets), for checking that a viewer stays smooth while
    another one is being dropped."""
    last, worst, frames = time.monotonic(), 0.0, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds and not done():
        ch, pkt = client.read_packet(timeout=read_timeout)
        if ch == 0 and rtp_header(pkt)[0]:  # marker: end of a frame
            now = time.monotonic()
            worst = max(worst, now - last)
            last = now
            frames += 1
    return frames, worst
