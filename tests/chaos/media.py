"""What a chaos viewer reads out of the bytes it receives (issue 5).

Every access unit camsim sends carries an SEI watermark (tools/camsim/sei.py):
camera id, sequence number, capture time. The compressed delivery paths are
checked by finding that watermark again:

- ``RtpH264``: RTP payloads (RFC 6184 single NAL, STAP-A, FU-A) -> one
  result per access unit (the RTP marker bit ends one).
- ``Fmp4Reader``: a fragmented MP4 byte stream (progressive MP4, LL-HLS
  parts) -> one result per video sample, split with the ``trun`` sizes.

Each result is ``(camera_id_hex, seq, capture_us)`` or ``None`` for an access
unit with no readable watermark (counted apart as unreadable, never as
verified). Decoded paths (snapshots, MJPEG) read the id drawn into the picture
with ``tests/integration/pattern.py`` instead.

Stdlib only; bounded buffers; garbage never raises out of ``feed``.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "camsim"))
import sei  # noqa: E402

MAX_AU = 4 << 20  # an access unit larger than this is garbage: dropped
MAX_BOX = 64 << 20


class RtpH264:
    """Depacketizes H.264 RTP (RFC 6184) just enough to find each access
    unit's watermark. ``packet(rtp_bytes)`` returns a list of finished access
    units' results (0 or 1 normally)."""

    def __init__(self):
        self.found = None  # watermark of the access unit being received
        self.has_data = False
        self.fu = None  # bytearray of an SEI NAL being reassembled from FU-A
        self.bad = 0  # malformed packets

    def _nal(self, nal):
        self.has_data = True
        if nal and (nal[0] & 0x1F) == 6 and self.found is None:
            self.found = sei.parse_sei_nal(bytes(nal))

    def packet(self, pkt):
        n = len(pkt)
        if n < 12 or (pkt[0] >> 6) != 2:
            self.bad += 1
            return []
        cc = pkt[0] & 0x0F
        off = 12 + 4 * cc
        if pkt[0] & 0x10:  # extension
            if n < off + 4:
                self.bad += 1
                return []
            off += 4 + 4 * struct.unpack_from(">H", pkt, off + 2)[0]
        end = n
        if pkt[0] & 0x20:  # padding
            end -= pkt[-1]
        if off >= end:
            self.bad += 1
            return []
        marker = pkt[1] & 0x80
        pl = memoryview(pkt)[off:end]
        t = pl[0] & 0x1F
        if 1 <= t <= 23:
            self._nal(pl)
        elif t == 24:  # STAP-A
            i = 1
            while i + 2 <= len(pl):
                size = struct.unpack_from(">H", pl, i)[0]
                i += 2
                if size == 0 or i + size > len(pl):
                    self.bad += 1
                    break
                self._nal(pl[i:i + size])
                i += size
        elif t == 28 and len(pl) >= 2:  # FU-A: only SEI fragments are kept
            fh = pl[1]
            inner = fh & 0x1F
            self.has_data = True
            if fh & 0x80:
                self.fu = bytearray([(pl[0] & 0xE0) | inner]) if inner == 6 else None
            if self.fu is not None:
                self.fu += pl[2:]
                if len(self.fu) > MAX_AU:
                    self.fu = None
                elif fh & 0x40:
                    self._nal(self.fu)
                    self.fu = None
        else:
            self.bad += 1
        if marker and self.has_data:
            out = [self.found]
            self.found, self.has_data, self.fu = None, False, None
            return out
        return []


def _boxes(buf, start, end):
    """(type, payload_start, box_end) of each box in buf[start:end]."""
    i = start
    while i + 8 <= end:
        size, typ = struct.unpack_from(">I4s", buf, i)
        hdr = 8
        if size == 1:
            if i + 16 > end:
                return
            size = struct.unpack_from(">Q", buf, i + 8)[0]
            hdr = 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            return
        yield typ, i + hdr, i + size
        i += size


def _lp_nals(data):
    """NAL units of a length-prefixed (4-byte) sample."""
    i, n = 0, len(data)
    while i + 4 <= n:
        size = struct.unpack_from(">I", data, i)[0]
        i += 4
        if size == 0 or i + size > n:
            return
        yield data[i:i + size]
        i += size


def sample_watermark(sample):
    for nal in _lp_nals(sample):
        if nal and (nal[0] & 0x1F) == 6:
            r = sei.parse_sei_nal(bytes(nal))
            if r is not None:
                return r
    return None


class Fmp4Reader:
    """Feeds on a fragmented MP4 byte stream in any cut; ``feed(data)``
    returns the results of the video samples completed by it. The video
    track is the first ``trak`` whose handler is ``vide`` in ``moov`` (camsim
    sends video only, so any track when no moov was seen, e.g. an HLS part)."""

    def __init__(self, video_track=None):
        self.buf = bytearray()
        self.video_track = video_track
        self.sizes = None  # sample sizes of the video track in the last moof
        self.data_offset = None
        self.moof_size = 0
        self.other_before = 0  # bytes of other tracks' samples before video's in mdat
        self.bad = 0

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 8:
            size, typ = struct.unpack_from(">I4s", self.buf, 0)
            hdr = 8
            if size == 1:
                if len(self.buf) < 16:
                    break
                size = struct.unpack_from(">Q", self.buf, 8)[0]
                hdr = 16
            if size < hdr or size > MAX_BOX:
                self.bad += 1
                self.buf.clear()  # lost framing: nothing after it can be trusted
                break
            if len(self.buf) < size:
                break
            box = bytes(self.buf[:size])
            del self.buf[:size]
            if typ == b"moov":
                self._moov(box, hdr)
            elif typ == b"moof":
                self._moof(box, hdr)
            elif typ == b"mdat":
                out += self._mdat(box, hdr)
        return out

    def _moov(self, box, hdr):
        for typ, s, e in _boxes(box, hdr, len(box)):
            if typ != b"trak":
                continue
            tid, handler = None, None
            for t2, s2, e2 in _boxes(box, s, e):
                if t2 == b"tkhd":
                    v = box[s2]
                    tid = struct.unpack_from(">I", box, s2 + (20 if v == 1 else 12))[0]
                elif t2 == b"mdia":
                    for t3, s3, e3 in _boxes(box, s2, e2):
                        if t3 == b"hdlr":
                            handler = bytes(box[s3 + 8:s3 + 12])
            if handler == b"vide" and self.video_track is None:
                self.video_track = tid

    def _moof(self, box, hdr):
        self.sizes, self.data_offset, self.moof_size = None, None, len(box)
        self.other_before = 0
        for typ, s, e in _boxes(box, hdr, len(box)):
            if typ != b"traf":
                continue
            tid, default_size, sizes, data_offset = None, 0, [], None
            for t2, s2, e2 in _boxes(box, s, e):
                if t2 == b"tfhd":
                    flags = struct.unpack_from(">I", box, s2)[0] & 0xFFFFFF
                    tid = struct.unpack_from(">I", box, s2 + 4)[0]
                    j = s2 + 8
                    if flags & 0x01:
                        j += 8
                    if flags & 0x02:
                        j += 4
                    if flags & 0x08:
                        j += 4
                    if flags & 0x10:
                        default_size = struct.unpack_from(">I", box, j)[0]
                elif t2 == b"trun":
                    flags = struct.unpack_from(">I", box, s2)[0] & 0xFFFFFF
                    count = struct.unpack_from(">I", box, s2 + 4)[0]
                    j = s2 + 8
                    if flags & 0x01:
                        data_offset = struct.unpack_from(">i", box, j)[0]
                        j += 4
                    if flags & 0x04:
                        j += 4
                    per = sum(4 for f in (0x100, 0x200, 0x400, 0x800) if flags & f)
                    if count > 100000 or j + per * count > e2:
                        self.bad += 1
                        continue
                    for k in range(count):
                        p = j + per * k
                        if flags & 0x100:
                            p += 4
                        sizes.append(struct.unpack_from(">I", box, p)[0] if flags & 0x200 else default_size)
            if self.video_track is None or tid == self.video_track:
                self.sizes, self.data_offset = sizes, data_offset
                break
            self.other_before += sum(sizes)

    def _mdat(self, box, hdr):
        if self.sizes is None:
            self.bad += 1
            return []
        if self.data_offset is not None:
            pos = self.data_offset - self.moof_size  # offset from the moof start, moof directly precedes
        else:
            pos = hdr + self.other_before
        out = []
        for size in self.sizes:
            if pos < hdr or pos + size > len(box):
                self.bad += 1
                break
            out.append(sample_watermark(memoryview(box)[pos:pos + size]))
            pos += size
        self.sizes = None
        return out
