"""tools/camsim, the chaos test's synthetic camera fleet: one camsim process
pushes several cameras, every access unit a viewer gets carries that
camera's SEI watermark, and a restarted camsim picks up where it left off."""
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from conftest import BUILD, ROOT, SANITIZER_MARKS, SLOW, have, wait_live

sys.path.insert(0, str(ROOT / "tools" / "camsim"))
from sei import access_units, parse_sei, parse_sei_nal  # noqa: E402

CAMSIM = BUILD / "tools" / "camsim" / "camsim"

pytestmark = pytest.mark.skipif(not have("ffmpeg"), reason="needs ffmpeg")

_clip_lock = threading.Lock()


def camsim_clip():
    """A raw Annex-B H.264 clip, encoded once per run (cached)."""
    cache = ROOT / "tests" / "integration" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / "camsim_testsrc_4s_320x240_25.h264"
    with _clip_lock:
        if not out.exists():
            tmp = out.with_suffix(".tmp.h264")
            subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                            "-i", "testsrc=size=320x240:rate=25", "-t", "4", "-c:v", "libx264", "-g", "50",
                            "-bf", "0", "-pix_fmt", "yuv420p", "-f", "h264", str(tmp)], check=True, timeout=120)
            tmp.rename(out)
    return out


def camera_arg(cam):
    u = urllib.parse.urlsplit(cam["ingest_url"])
    return f"{cam['id']}:{urllib.parse.unquote(u.password)}"


def spawn_camsim(procs, srv, cams, *extra):
    args = [str(CAMSIM), "--server", f"rtsp://127.0.0.1:{srv.port}", "--clip", str(camsim_clip()), "--fps", "25"]
    for c in cams:
        args += ["--camera", camera_arg(c)]
    return procs(args + list(extra))


def read_h264(srv, cam_id, seconds):
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                        "-i", srv.url(cam_id), "-c", "copy", "-f", "h264", "-t", str(seconds), "-"],
                       capture_output=True, timeout=(30 + seconds) * SLOW)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


def check_watermarks(data, cam_id, others, min_count):
    """Every access unit has exactly one watermark, the camera's own."""
    marks = parse_sei(data)
    assert len(marks) >= min_count, f"{len(marks)} watermarks for {cam_id}"
    ids = {m[0] for m in marks}
    assert ids == {cam_id}, f"{cam_id} got watermarks of {ids - {cam_id}}"
    assert not ids & set(others)
    for au in access_units(data):
        mine = [r for r in (parse_sei_nal(n) for n in au) if r is not None]
        assert len(mine) == 1, f"an access unit with {len(mine)} watermarks ({[n[0] & 0x1f for n in au]})"
    seqs = [m[1] for m in marks]
    assert all(b > a for a, b in zip(seqs, seqs[1:])), f"sequence numbers not increasing: {seqs}"
    now_us = time.time() * 1e6
    assert all(now_us - 120e6 < m[2] <= now_us for m in marks), "capture times not recent wall clock"
    return marks


def test_sei_roundtrip_with_emulation_prevention():
    """The parser removes 00 00 03: a payload full of zeros survives."""
    from sei import CAMSIM_UUID, unescape
    payload = CAMSIM_UUID + bytes(16) + (2 ** 32).to_bytes(8, "big") + bytes(8)
    rbsp = bytes([5, len(payload)]) + payload + b"\x80"
    esc, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            esc.append(3)
            zeros = 0
        esc.append(b)
        zeros = zeros + 1 if b == 0 else 0
    assert unescape(bytes(esc)) == rbsp
    stream = b"\x00\x00\x00\x01\x06" + bytes(esc) + b"\x00\x00\x01\x65\x88"
    assert parse_sei(stream) == [("00" * 16, 2 ** 32, 0)]


def test_three_cameras_one_process(server, procs):
    srv = server()
    cams = [srv.add_camera(f"sim{i}") for i in range(3)]
    # Sequence numbers crossing 2^32 put 00 00 00 01 00 00 .. in the RBSP:
    # emulation prevention must be right for the stream to parse at all.
    sim = spawn_camsim(procs, srv, cams, "--seq-start", str(2 ** 32 - 60))
    for c in cams:
        wait_live(srv, c["id"])
    ids = [c["id"] for c in cams]
    results, errors = {}, []

    def view(cid):
        try:
            results[cid] = read_h264(srv, cid, 3)
        except Exception as e:  # reported below
            errors.append(f"{cid}: {e}")

    threads = [threading.Thread(target=view, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60 * SLOW)
    assert not errors, errors
    for cid in ids:
        marks = check_watermarks(results[cid], cid, [o for o in ids if o != cid], 50)
        assert any(m[1] >= 2 ** 32 for m in marks) or marks[0][1] > 2 ** 32 - 60
    assert sim.alive(), sim.text()
    stop_cleanly(sim)
    # An independent reading of the SEI syntax: FFmpeg's coded bitstream
    # reader parses every watermark as a 48-byte user_data_unregistered.
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "trace", "-f", "h264", "-i", "-", "-c", "copy",
                        "-bsf:v", "trace_headers", "-f", "null", "-"],
                       input=results[ids[0]], capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr[-3000:]
    trace = r.stderr.decode(errors="replace")
    sizes = [line for line in trace.splitlines() if "last_payload_size_byte" in line and line.endswith("= 48")]
    assert len(sizes) == len(parse_sei(results[ids[0]])), trace[-3000:]


def stop_cleanly(sim):
    """SIGTERM: camsim exits 0 with no sanitizer report."""
    sim.p.send_signal(signal.SIGTERM)
    rc = sim.wait(20)
    out = sim.text()
    for mark in SANITIZER_MARKS:
        assert mark not in out, out[-6000:]
    assert rc == 0, out[-4000:]
    assert "sent" in out


def test_restart_continues(server, procs, tmp_path):
    srv = server()
    cams = [srv.add_camera(f"re{i}") for i in range(2)]
    ids = [c["id"] for c in cams]
    sim = spawn_camsim(procs, srv, cams)
    for c in cams:
        wait_live(srv, c["id"])
    outs = {cid: tmp_path / f"{cid}.h264" for cid in ids}
    viewers = [subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                                 "-i", srv.url(cid), "-c", "copy", "-f", "h264", "-t", "9", str(outs[cid])],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for cid in ids]
    try:
        time.sleep(3)  # a few seconds of the first camsim (live: real time, not SLOW-scaled)
        assert all(v.poll() is None for v in viewers)
        sim.stop(signal.SIGKILL)
        time.sleep(1)
        sim2 = spawn_camsim(procs, srv, cams)
        for v in viewers:
            _, err = v.communicate(timeout=60 * SLOW)
            assert v.returncode == 0, err.decode(errors="replace")
    finally:
        for v in viewers:
            if v.poll() is None:
                v.kill()
                v.wait()
    for cid in ids:
        marks = check_watermarks(outs[cid].read_bytes(), cid, [o for o in ids if o != cid], 100)
        # The restart shows as one jump in seq (sequence numbers count time:
        # about 25 per second of downtime), with both camsims on either side.
        seqs = [m[1] for m in marks]
        jumps = [i for i in range(1, len(seqs)) if seqs[i] - seqs[i - 1] > 10]
        assert len(jumps) == 1, f"{cid}: expected one gap in {seqs}"
        before, after = jumps[0], len(seqs) - jumps[0]
        assert before >= 25 and after >= 40, f"{cid}: {before} watermarks before the restart, {after} after"
    assert sim2.alive(), sim2.text()
    assert "recording" in sim2.text()
    stop_cleanly(sim2)
