"""The chaos test's verifier (tests/chaos/media.py and viewers.Tally): it must
find the SEI watermark of every access unit in RTP (single NAL, STAP-A, FU-A)
and in fragmented MP4 cut at any byte, call a frame foreign when its camera is
not the viewer's, and call it late by the rules the chaos run relies on. The
chaos run itself (tests/chaos/run) is run by scripts/test-all.sh."""
import random
import struct
import subprocess
import sys
import time

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "chaos"))
sys.path.insert(0, str(ROOT / "tools" / "camsim"))
import media  # noqa: E402
import viewers  # noqa: E402
from clips import make_clip  # noqa: E402
from sei import CAMSIM_UUID, access_units  # noqa: E402

CAM = "00112233445566778899aabbccddeeff"
OTHER = "ffeeddccbbaa99887766554433221100"


def sei_nal(cam_hex, seq, cap_us):
    """A camsim SEI NAL (the same layout as tools/camsim/sei.c), with
    emulation prevention."""
    payload = CAMSIM_UUID + bytes.fromhex(cam_hex) + struct.pack(">QQ", seq, cap_us)
    rbsp = bytes([5, len(payload)]) + payload + b"\x80"
    out, zeros = bytearray([0x06]), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def rtp(payload, seq, marker):
    return struct.pack(">BBHII", 0x80, 96 | (0x80 if marker else 0), seq & 0xFFFF, seq * 3600, 1234) + payload


def test_rtp_single_stap_and_fu_a():
    d = media.RtpH264()
    slice_nal = b"\x65" + bytes(range(256)) * 8  # an IDR slice, 2 KiB
    sei = sei_nal(CAM, 7, 1_800_000_000_000_000)
    # AU 1: SEI as a single NAL packet, slice in two FU-A fragments
    out = d.packet(rtp(sei, 1, False))
    assert out == []
    fu1 = bytes([0x7C, 0x80 | 5]) + slice_nal[1:1000]
    fu2 = bytes([0x7C, 0x40 | 5]) + slice_nal[1000:]
    assert d.packet(rtp(fu1, 2, False)) == []
    assert d.packet(rtp(fu2, 3, True)) == [(CAM, 7, 1_800_000_000_000_000)]
    # AU 2: SPS, PPS and SEI in one STAP-A, then the slice
    sps, pps = b"\x67\x42\xc0\x0d\xda", b"\x68\xce\x0f\xc8"
    sei2 = sei_nal(OTHER, 8, 5)
    stap = b"\x18" + b"".join(struct.pack(">H", len(n)) + n for n in (sps, pps, sei2))
    assert d.packet(rtp(stap, 4, False)) == []
    assert d.packet(rtp(b"\x41" + b"\x00" * 50, 5, True)) == [(OTHER, 8, 5)]
    # AU 3: the SEI itself fragmented over FU-A
    sei3 = sei_nal(CAM, 9, 6)
    h = sei3[0]
    d.packet(rtp(bytes([(h & 0xE0) | 28, 0x80 | 6]) + sei3[1:20], 6, False))
    d.packet(rtp(bytes([(h & 0xE0) | 28, 0x40 | 6]) + sei3[20:], 7, False))
    assert d.packet(rtp(b"\x41\x00", 8, True)) == [(CAM, 9, 6)]
    # AU 4: no watermark at all -> None (unreadable, never verified)
    assert d.packet(rtp(b"\x41\x00", 9, True)) == [None]
    # garbage never raises and yields nothing
    rng = random.Random(1)
    for _ in range(2000):
        d.packet(bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
    assert d.bad > 0


def _sei_clip(tmp_path, frames):
    """An H.264 clip with a camsim watermark before every access unit,
    muxed by ffmpeg into fragmented MP4 (one fragment per frame, as
    camvault's progressive MP4 and LL-HLS parts do)."""
    raw = make_clip(CAM, tmp_path / "c.h264", size=(160, 120), fps=25, seconds=frames / 25, gop=10)
    out = bytearray()
    n = 0
    for au in access_units(raw.read_bytes()):
        out += b"\x00\x00\x00\x01" + sei_nal(CAM, n, 1_800_000_000_000_000 + n)
        n += 1
        for nal in au:
            out += b"\x00\x00\x00\x01" + nal
    src = tmp_path / "w.h264"
    src.write_bytes(bytes(out))
    mp4 = tmp_path / "w.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "h264", "-r", "25", "-i", str(src),
                    "-c", "copy", "-movflags", "frag_every_frame+empty_moov+default_base_moof", "-f", "mp4", str(mp4)],
                   check=True, timeout=60)
    return mp4.read_bytes(), n


def test_fmp4_every_sample_read_at_any_cut(tmp_path):
    data, n = _sei_clip(tmp_path, 50)
    assert n == 50
    for seed in range(5):
        rng = random.Random(seed)
        r = media.Fmp4Reader()
        got, i = [], 0
        while i < len(data):
            k = rng.randrange(1, 3000)
            got += r.feed(data[i:i + k])
            i += k
        assert [g[1] for g in got] == list(range(50)), got[:5]
        assert all(g[0] == CAM for g in got)
        assert r.bad == 0


def test_fmp4_garbage_is_counted_not_raised():
    r = media.Fmp4Reader()
    assert r.feed(b"\x00\x00\x00\x04junk" + b"\xff" * 100) == []
    assert r.bad == 1
    r = media.Fmp4Reader()
    assert r.feed(struct.pack(">I4s", 16, b"mdat") + b"\x00" * 8) == []  # mdat with no moof
    assert r.bad == 1


def test_tally_foreign_and_late_rules():
    now = time.time()
    t = viewers.Tally({"expect": CAM})
    t.frame((CAM, 1, int(now * 1e6)), now)
    t.frame((OTHER, 2, int(now * 1e6)), now)
    t.frame(None, now)
    c = t.snapshot()
    assert (c["ok"], c["foreign"], c["unread"], c["late"]) == (1, 1, 1, 0)
    assert c["foreign_ids"] == [OTHER]
    t.revoked_at = now
    # captured within the allowance, received late (a slow network): not late
    t.frame((CAM, 3, int((now + 0.5) * 1e6)), now + 5)
    assert t.snapshot()["late"] == 0
    # captured after the allowance: late, whatever the arrival
    t.frame((CAM, 4, int((now + 1.5) * 1e6)), now + 1.6)
    assert t.snapshot()["late"] == 1
    # a picture answering a request sent after the allowance: late
    t.frame((CAM, 5, 0), now + 2, req_t=now + 1.2)
    assert t.snapshot()["late"] == 2
    # ... but not one answering a request sent before it
    t.frame((CAM, 6, 0), now + 3, req_t=now + 0.2)
    assert t.snapshot()["late"] == 2
    # a picture with no capture time, on a stream: by arrival
    t.frame((CAM, 7, 0), now + 1.1)
    t.frame((CAM, 8, 0), now + 0.9)
    assert t.snapshot()["late"] == 3


def test_picture_id_read_in_process():
    """Decoded paths: the id drawn into a picture is read back from a JPEG
    (ffmpeg encodes it, as camvault's MJPEG encoder would) with Pillow."""
    import pattern
    gray = pattern.encode_frame(320, 240, CAM, 5, 0)
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray",
                        "-s", "320x240", "-i", "pipe:0", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "5",
                        "-f", "image2pipe", "pipe:1"], input=gray, capture_output=True, check=True, timeout=60)
    assert viewers._decode_jpeg(r.stdout)[:2] == (CAM, 5)
    assert viewers._decode_jpeg(b"\xff\xd8not a jpeg") is None
    viewers._decode_jpeg(r.stdout[:len(r.stdout) // 3])  # truncated: a result or None, never an exception
