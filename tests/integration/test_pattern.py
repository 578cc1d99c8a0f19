"""The picture code of pattern.py, end to end: it survives x264/x265, JPEG at
width 160 and scaling; a misread cell is caught; the PatternCamera and the
viewers (decode_stream, decode_mjpeg) measure identity and glass-to-glass
latency on live streams (ffmpeg's own HTTP server, and camvault's RTSP relay)."""
import random
import subprocess
import time

import pytest

from conftest import SLOW, free_port, wait_for, wait_live
from pattern import cameras_fixture  # noqa: F401 (the `cameras` fixture)
from pattern import (COLS, DATA, ROWS, decode_frame, decode_jpeg, decode_mjpeg, decode_stream,
                     encode_frame, jpeg_size, listening, median, now_us, random_camera_id, write_clip)


def report(what, decoded):
    lat = decoded.latencies_ms()
    if lat:
        print(f"\n{what}: {len(decoded)} frames, {len(decoded.codes())} decoded, glass-to-glass latency "
              f"median {median(lat):.0f} ms (min {min(lat):.0f}, max {max(lat):.0f})")
    return median(lat) if lat else None


def check_one_camera(decoded, camera_id, min_frames):
    codes = decoded.codes()
    assert len(decoded) >= min_frames, f"only {len(decoded)} frames (rc {decoded.returncode}): {decoded.stderr[-800:]}"
    assert len(codes) == len(decoded), f"{len(decoded) - len(codes)} of {len(decoded)} frames carry no readable code"
    assert {c[0] for c in codes} == {camera_id}
    seqs = [c[1] for c in codes]
    assert all(b > a for a, b in zip(seqs, seqs[1:])), f"frames out of order or repeated: {seqs}"
    return seqs


@pytest.mark.parametrize("size", [(320, 240), (640, 360), (160, 120), (1280, 720), (352, 288), (22, 16), (333, 211)])
def test_encode_decode_roundtrip(size):
    w, h = size
    rng = random.Random(w * 7919 + h)
    for seq, wall in [(0, 0), (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF), (1, now_us())] + \
                     [(rng.getrandbits(32), rng.getrandbits(64)) for _ in range(20)]:
        cam = random_camera_id()
        frame = encode_frame(w, h, cam, seq, wall)
        assert isinstance(frame, bytes) and len(frame) == w * h
        assert set(frame) <= {0, 255}
        assert decode_frame(frame, w, h) == (cam, seq, wall)


def test_encoding_sustains_real_time():
    """25 fps at 640x360 needs 40 ms a frame; ask for a tenth of that (the machine may be loaded)."""
    cam = random_camera_id()
    for w, h in [(320, 240), (640, 360)]:
        t0 = time.perf_counter()
        for i in range(250):
            frame = encode_frame(w, h, cam, i, now_us())
        per_frame = (time.perf_counter() - t0) / 250
        assert per_frame < 0.004 * SLOW, f"{w}x{h}: {per_frame * 1000:.2f} ms a frame"
        t0 = time.perf_counter()
        for _ in range(50):
            assert decode_frame(frame, w, h)
        assert (time.perf_counter() - t0) / 50 < 0.01 * SLOW


def test_one_flipped_cell_fails_the_checksum():
    w, h = 320, 240
    cam = random_camera_id()
    frame = encode_frame(w, h, cam, 12345, now_us())
    xs = [c * w // COLS for c in range(COLS + 1)]
    ys = [r * h // ROWS for r in range(ROWS + 1)]
    for r, c in DATA:  # every code cell, one at a time
        f = bytearray(frame)
        for y in range(ys[r], ys[r + 1]):
            row = y * w
            f[row + xs[c]:row + xs[c + 1]] = bytes(255 - v for v in f[row + xs[c]:row + xs[c + 1]])
        assert decode_frame(bytes(f), w, h) is None, f"flipping cell {(r, c)} went unnoticed"


def test_pictures_without_a_code_decode_to_none():
    w, h = 320, 240
    rng = random.Random(1)
    assert decode_frame(bytes(w * h), w, h) is None  # black
    assert decode_frame(bytes([255]) * (w * h), w, h) is None  # white
    assert decode_frame(bytes([128]) * (w * h), w, h) is None  # grey
    for _ in range(20):
        assert decode_frame(bytes(rng.getrandbits(8) for _ in range(w * h)), w, h) is None
    # A checkerboard passes the finder but not the CRC.
    board = bytes(255 if ((x * COLS // w) + (y * ROWS // h)) % 2 else 0 for y in range(h) for x in range(w))
    assert decode_frame(board, w, h) is None
    assert decode_frame(b"\0" * 10, w, h) is None  # short buffer


@pytest.mark.parametrize("codec,size,ext", [("h264", (320, 240), "mp4"), ("h264", (640, 360), "mp4"),
                                            ("h265", (320, 240), "mkv")])
def test_every_frame_survives_the_encoder(tmp_path, codec, size, ext):
    cam = random_camera_id()
    clip = tmp_path / f"clip.{ext}"
    src = write_clip(["-f", {"mp4": "mp4", "mkv": "matroska"}[ext], str(clip)], cam, seconds=4, size=size, codec=codec)
    assert len(src.sent) == 100
    got = decode_stream(clip, size=size, timeout=120)
    assert got.returncode == 0, got.stderr
    assert [d for _, d in got] == [(cam, seq, wall) for seq, wall in src.sent]
    # Scaled on the way (the viewer asks for another size): still every frame.
    small = decode_stream(clip, size=(160, 120), timeout=120)
    assert [d for _, d in small] == [(cam, seq, wall) for seq, wall in src.sent]


def test_jpeg_snapshot_at_width_160_still_decodes(tmp_path):
    cam = random_camera_id()
    clip = tmp_path / "clip.mp4"
    src = write_clip(["-f", "mp4", str(clip)], cam, seconds=2)
    sent = dict(src.sent)
    # Every 7th decoded frame, as a snapshot would be: scaled to width 160, JPEG q5.
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip),
                    "-vf", "select=not(mod(n\\,7)),scale=160:-2", "-fps_mode", "passthrough", "-q:v", "5",
                    str(tmp_path / "snap%03d.jpg")], check=True, timeout=120)
    snaps = sorted(tmp_path.glob("snap*.jpg"))
    assert len(snaps) == 8
    for i, snap in enumerate(snaps):
        data = snap.read_bytes()
        assert jpeg_size(data) == (160, 120)
        d = decode_jpeg(data)
        assert d is not None, f"{snap.name} does not decode"
        assert d[0] == cam and d[1] == 7 * i and d[2] == sent[d[1]]
    # Worst JPEG quality, and smaller still: the code holds.
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(clip), "-frames:v", "1",
                        "-vf", "scale=96:-2", "-q:v", "31", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"],
                       capture_output=True, check=True, timeout=60)
    assert decode_jpeg(r.stdout) == (cam, 0, sent[0])


def test_live_mjpeg_over_http(cameras):
    """A live MJPEG stream (ffmpeg's own HTTP server) read by decode_mjpeg: the
    multipart framing, identity, order and latency tooling for camvault's live.mjpeg."""
    cam = random_camera_id()
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.mjpeg"
    pc = cameras(None, cam, fps=10, codec="mjpeg",
                 output=["-f", "mpjpeg", "-listen", "1", "-content_type", "multipart/x-mixed-replace;boundary=ffmpeg", url])
    wait_for(lambda: listening(port) or not pc.alive(), 30, "ffmpeg to serve MJPEG")
    assert pc.alive(), pc.text()
    got = decode_mjpeg(url, frames=20, timeout=60 * SLOW)
    assert set(got.sizes) == {(320, 240)}
    seqs = check_one_camera(got, cam, 20)
    assert seqs[-1] - seqs[0] == len(seqs) - 1, f"frames were dropped: {seqs}"
    lat = report("MJPEG over HTTP (ffmpeg server)", got)
    assert lat < 5000


def test_live_fragmented_mp4_over_http(cameras):
    """Progressive fMP4 over HTTP (ffmpeg's own server) read by decode_stream,
    as the lead's live.mp4 will be."""
    cam = random_camera_id()
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.mp4"
    pc = cameras(None, cam, output=["-f", "mp4", "-movflags", "empty_moov+default_base_moof+frag_every_frame",
                                    "-listen", "1", url])
    wait_for(lambda: listening(port) or not pc.alive(), 30, "ffmpeg to serve fMP4")
    assert pc.alive(), pc.text()
    got = decode_stream(url, seconds=3, timeout=60 * SLOW)
    check_one_camera(got, cam, 40)
    lat = report("fMP4 over HTTP (ffmpeg server)", got)
    assert lat < 5000


@pytest.mark.parametrize("codec,audio", [("h264", False), ("h265", True)])
def test_pattern_camera_through_camvault_rtsp(server, cameras, codec, audio):
    """PatternCamera pushes into camvault; an RTSP viewer reads back every frame
    with the right camera id, in order, and the glass-to-glass latency."""
    srv = server()
    cam = srv.add_camera(f"pattern-{codec}")
    pc = cameras(cam["ingest_url"], cam["id"], codec=codec, audio=audio)
    wait_live(srv, cam["id"], timeout=30)
    got = decode_stream(srv.url(cam["id"]), seconds=5, timeout=60 * SLOW)
    seqs = check_one_camera(got, cam["id"], 50)
    assert max(seqs) < pc.seq
    # After the start-up burst (the prebuffered GOP), no frame is lost.
    tail = seqs[len(seqs) // 2:]
    assert tail[-1] - tail[0] == len(tail) - 1, f"frames were dropped: {tail}"
    lat = report(f"camvault RTSP relay ({codec}{'+aac' if audio else ''})", got)
    live = [(t - d[2]) / 1000 for t, d in got[len(got) // 2:]]
    print(f"steady-state median {median(live):.0f} ms; camera late frames: {pc.late}")
    assert 0 < median(live) < 5000
    assert pc.error is None and pc.alive(), pc.text()
    assert lat is not None
    assert srv.alive()
