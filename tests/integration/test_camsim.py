"""tools/camsim, the chaos test's synthetic camera fleet: one camsim process
pushes several cameras, every access unit a viewer gets carries that
camera's SEI watermark, and a restarted camsim picks up where it left off.
Slice 2: per-camera clips with the id drawn into the picture, UDP transport,
and misbehaviour on demand (drop, stall, garbage, resize on stdin).
Slice 3: camsim as a camera that camvault pulls (--listen, --serve)."""
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest


from conftest import BUILD, ROOT, SANITIZER_MARKS, SLOW, free_port, wait_for, wait_live
from pattern import decode_jpeg, jpeg_size, read_mjpeg

sys.path.insert(0, str(ROOT / "tools" / "camsim"))
from clips import make_clip  # noqa: E402
from sei import access_units, annexb_nals, parse_sei, parse_sei_nal  # noqa: E402

CAMSIM = BUILD / "tools" / "camsim" / "camsim"


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


def spawn_camsim(procs, srv, cams, *extra, clips=None, stdin=None):
    """clips: {camera id: clip path} for cameras with their own clip."""
    args = [str(CAMSIM), "--server", f"rtsp://127.0.0.1:{srv.port}", "--clip", str(camsim_clip()), "--fps", "25"]
    for c in cams:
        own = (clips or {}).get(c["id"])
        args += ["--camera", camera_arg(c) + (f":{own}" if own else "")]
    kw = {"stdin": subprocess.PIPE} if stdin else {}
    return procs(args + list(extra), **kw)


def command(sim, line, applied, count=1, timeout=10):
    """Sends a control line to camsim and waits for count lines
    "camsim: <applied> applied" more than there were."""
    pat = re.compile(rf"^camsim: {applied} applied$")
    before = sum(1 for l in list(sim.out) if pat.match(l))
    sim.p.stdin.write(line + "\n")
    sim.p.stdin.flush()
    wait_for(lambda: sum(1 for l in list(sim.out) if pat.match(l)) >= before + count, timeout * SLOW,
             f"camsim to apply {line!r}: {sim.text()[-2000:]}")


def http_get(url, timeout=30):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout * SLOW) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def start_viewers(srv, ids, tmp_path, seconds):
    """ffmpeg RTSP viewers writing each camera's H.264 to a file."""
    outs = {cid: tmp_path / f"{cid}.h264" for cid in ids}
    viewers = {cid: subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                                      "-i", srv.url(cid), "-c", "copy", "-f", "h264", "-flush_packets", "1",
                                      "-t", str(seconds), str(outs[cid])],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for cid in ids}
    return outs, viewers


def marks_so_far(path):
    try:
        return parse_sei(path.read_bytes())
    except FileNotFoundError:
        return []


def finish_viewers(viewers, timeout=60):
    try:
        for cid, v in viewers.items():
            _, err = v.communicate(timeout=timeout * SLOW)
            assert v.returncode == 0, f"{cid}: {err.decode(errors='replace')}"
    finally:
        for v in viewers.values():
            if v.poll() is None:
                v.kill()
                v.wait()


def gaps(seqs, over):
    return [(seqs[i - 1], seqs[i]) for i in range(1, len(seqs)) if seqs[i] - seqs[i - 1] > over]


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


# --------------------------------------------------------------- slice 2

def test_per_camera_clip_draws_the_id_into_the_picture(server, procs, tmp_path):
    """--camera ID:SECRET:CLIP: each camera's decoded picture (JPEG snapshot,
    MJPEG) shows its own id, and its SEI watermarks say the same."""
    srv = server()
    cams = [srv.add_camera(f"pic{i}") for i in range(2)]
    clips = {c["id"]: make_clip(c["id"], tmp_path / f"{c['id']}.h264") for c in cams}
    sim = spawn_camsim(procs, srv, cams, clips=clips)
    base = f"http://127.0.0.1:{srv.http_port()}"
    for c in cams:
        tok = srv.token(c["id"], scope="live,snapshot")
        url = f"{base}/cam/{c['id']}/snapshot.jpg?token={tok}"
        wait_for(lambda: http_get(url)[0] == 200, 30 * SLOW, f"a snapshot of {c['id']}")
        st, body = http_get(url)
        assert st == 200 and jpeg_size(body) == (320, 240)
        code = decode_jpeg(body)
        assert code and code[0] == c["id"], f"the snapshot of {c['id']} shows {code}"
        _, parts = read_mjpeg(f"{base}/cam/{c['id']}/live.mjpeg?token={tok}&fps=5", frames=3, timeout=30 * SLOW)
        codes = [decode_jpeg(p[2]) for p in parts]
        assert len(codes) >= 3 and all(k and k[0] == c["id"] for k in codes), codes
    ids = [c["id"] for c in cams]
    check_watermarks(read_h264(srv, ids[0], 2), ids[0], ids[1:], 25)
    assert sim.alive(), sim.text()
    stop_cleanly(sim)


def test_udp_transport(server, procs):
    """--transport udp: SETUP with client_port, RTP to the server_port of the
    answer; a viewer gets the camera's own watermarks."""
    srv = server()
    cams = [srv.add_camera(f"udp{i}") for i in range(2)]
    sim = spawn_camsim(procs, srv, cams, "--transport", "udp")
    for c in cams:
        wait_live(srv, c["id"])
    ids = [c["id"] for c in cams]
    for cid in ids:
        check_watermarks(read_h264(srv, cid, 2), cid, [o for o in ids if o != cid], 40)
    assert "over UDP" in sim.text()
    stop_cleanly(sim)


def test_drop_all_comes_back_together(server, procs, tmp_path):
    """drop all: every camera resets its connection and comes back a second
    later; each viewer keeps its own camera: one gap in seq, then more."""
    srv = server()
    cams = [srv.add_camera(f"drop{i}") for i in range(3)]
    ids = [c["id"] for c in cams]
    sim = spawn_camsim(procs, srv, cams, "--seq-start", "0", stdin=True)
    for cid in ids:
        wait_live(srv, cid)
    # The viewers run until each has a second of video after the drop (how
    # long the cameras take to come back depends on the machine's load), then
    # stop cleanly on SIGINT.
    outs, viewers = start_viewers(srv, ids, tmp_path, 300)

    def after_drop(cid):
        seqs = [m[1] for m in marks_so_far(outs[cid])]
        g = gaps(seqs, 10)
        return bool(g) and len(seqs) >= 60 and sum(1 for q in seqs if q >= g[0][1]) >= 25

    try:
        wait_for(lambda: all(len(marks_so_far(outs[cid])) >= 25 for cid in ids), 30 * SLOW, "a second of video")
        command(sim, "drop all", r"drop [0-9a-f]{32}", count=3)
        wait_for(lambda: all(after_drop(cid) for cid in ids), 60 * SLOW, "a second of video after the drop")
        for v in viewers.values():
            v.send_signal(signal.SIGINT)
        for cid, v in viewers.items():
            _, err = v.communicate(timeout=30 * SLOW)
            assert v.returncode in (0, 255), f"{cid}: exit {v.returncode}: {err.decode(errors='replace')}"
    finally:
        for v in viewers.values():
            if v.poll() is None:
                v.kill()
                v.wait()
    for cid in ids:
        marks = check_watermarks(outs[cid].read_bytes(), cid, [o for o in ids if o != cid], 60)
        seqs = [m[1] for m in marks]
        g = gaps(seqs, 10)
        assert len(g) == 1, f"{cid}: expected one gap in {seqs}: {sim.text()}"
        assert 15 <= g[0][1] - g[0][0] <= 100, f"{cid}: a gap of {g[0]} for a 1 s outage"
        assert sum(1 for q in seqs if q >= g[0][1]) >= 25, f"{cid}: too little after the drop"
    assert sim.text().count("connection dropped") == 3, sim.text()
    assert sim.alive()
    stop_cleanly(sim)


def test_garbage_on_one_camera_leaves_the_other_alone(server, procs, tmp_path):
    """garbage A: a burst of malformed interleaved RTP and junk on A's
    connection. B's viewer sees no gap; A recovers (or is cut off by the
    server and reconnects) and streams on."""
    srv = server()
    cams = [srv.add_camera(f"junk{i}") for i in range(2)]
    a, b = (c["id"] for c in cams)
    sim = spawn_camsim(procs, srv, cams, "--seq-start", "0", stdin=True)
    for cid in (a, b):
        wait_live(srv, cid)
    outs, viewers = start_viewers(srv, [a, b], tmp_path, 6)
    try:
        wait_for(lambda: all(len(marks_so_far(outs[cid])) >= 25 for cid in (a, b)), 30 * SLOW, "a second of video")
        seq_at = marks_so_far(outs[a])[-1][1]
        command(sim, f"garbage {a}", f"garbage {a}")
        finish_viewers(viewers)
    finally:
        finish_viewers(viewers) if any(v.poll() is None for v in viewers.values()) else None
    bm = check_watermarks(outs[b].read_bytes(), b, [a], 100)
    bseq = [m[1] for m in bm]
    assert not gaps(bseq, 3), f"B had a gap: {gaps(bseq, 3)}"
    am = parse_sei(outs[a].read_bytes())
    assert {m[0] for m in am} == {a}
    assert sum(1 for m in am if m[1] > seq_at + 50) >= 25, f"A did not stream on after the garbage: {sim.text()}"
    assert sim.alive()
    stop_cleanly(sim)


def params_at_end(src, dst):
    """Rewrites a clip with its parameter sets only after the last slice: no
    keyframe of it carries them, camsim must put them in band itself."""
    nals = list(annexb_nals(src.read_bytes()))
    ps = [next(n for n in nals if n[0] & 0x1f == t) for t in (7, 8)]
    dst.write_bytes(b"".join(b"\0\0\0\1" + n for n in [n for n in nals if n[0] & 0x1f not in (7, 8)] + ps))
    return dst


def test_resize_switches_the_picture_format(server, procs, tmp_path):
    """resize: the camera switches to a 160x120 clip at its keyframe with
    SPS/PPS in band; the RTSP viewer's stream goes on without a gap, the HLS
    playlist shows a discontinuity and the snapshot the new size."""
    srv = server()
    cam = srv.add_camera("resize")
    cid = cam["id"]
    big = make_clip(cid, tmp_path / "big.h264")
    small = params_at_end(make_clip(cid, tmp_path / "small0.h264", size=(160, 120)), tmp_path / "small.h264")
    sim = spawn_camsim(procs, srv, [cam], "--seq-start", "0", clips={cid: big}, stdin=True)
    wait_live(srv, cid)
    base = f"http://127.0.0.1:{srv.http_port()}"
    tok = srv.token(cid, scope="live,snapshot")
    st, body = http_get(f"{base}/cam/{cid}/index.m3u8?token={tok}")
    assert st == 200, body
    media = f"{base}/cam/{cid}/" + [l for l in body.decode().splitlines() if l and not l.startswith("#")][0]
    wait_for(lambda: b"#EXTINF" in http_get(media)[1], 30 * SLOW, "a first HLS segment")
    assert b"#EXT-X-DISCONTINUITY\n" not in http_get(media)[1]
    outs, viewers = start_viewers(srv, [cid], tmp_path, 5)
    try:
        wait_for(lambda: len(marks_so_far(outs[cid])) >= 25, 30 * SLOW, "a second of video")
        command(sim, f"resize {cid} {small}", f"resize {cid}")
        finish_viewers(viewers)
    finally:
        finish_viewers(viewers) if any(v.poll() is None for v in viewers.values()) else None
    data = outs[cid].read_bytes()
    marks = check_watermarks(data, cid, [], 90)
    assert not gaps([m[1] for m in marks], 3), "the stream paused across the resize"
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "frame=width,height", "-of", "csv=p=0",
                        "-f", "h264", "-"], input=data, capture_output=True, timeout=60 * SLOW)
    sizes = {x.strip(",") for x in r.stdout.decode().split()}
    assert {"320,240", "160,120"} <= sizes, sizes
    wait_for(lambda: b"#EXT-X-DISCONTINUITY\n" in http_get(media)[1], 20 * SLOW, "a discontinuity in the playlist")
    snap = f"{base}/cam/{cid}/snapshot.jpg?token={tok}"
    wait_for(lambda: jpeg_size(http_get(snap)[1]) == (160, 120), 20 * SLOW, "a snapshot at the new size")
    assert decode_jpeg(http_get(snap)[1])[0] == cid
    assert sim.alive()
    stop_cleanly(sim)


def test_stall_keeps_the_connection(server, procs, tmp_path):
    """stall: the camera sends nothing for a while on the same connection,
    then goes on: one gap in seq, no reconnect."""
    srv = server()
    cam = srv.add_camera("stall")
    cid = cam["id"]
    sim = spawn_camsim(procs, srv, [cam], "--seq-start", "0", stdin=True)
    wait_live(srv, cid)
    outs, viewers = start_viewers(srv, [cid], tmp_path, 4)
    try:
        wait_for(lambda: len(marks_so_far(outs[cid])) >= 25, 30 * SLOW, "a second of video")
        command(sim, f"stall {cid} 1", f"stall {cid} 1")
        finish_viewers(viewers)
    finally:
        finish_viewers(viewers) if any(v.poll() is None for v in viewers.values()) else None
    seqs = [m[1] for m in check_watermarks(outs[cid].read_bytes(), cid, [], 50)]
    g = gaps(seqs, 10)
    assert len(g) == 1 and 15 <= g[0][1] - g[0][0] <= 60, f"expected one ~25-frame gap: {g}"
    assert sim.text().count("recording to") == 1, sim.text()
    assert "reconnecting" not in sim.text()
    stop_cleanly(sim)


# --------------------------------------------------------------- slice 3: pull-serving

def spawn_serving(procs, port, served, stdin=False):
    """camsim serving [(camera id, path)] on 127.0.0.1:port (0: any).
    Returns the process and the port it listens on."""
    args = [str(CAMSIM), "--listen", f"127.0.0.1:{port}", "--clip", str(camsim_clip()), "--fps", "25"]
    for cid, path in served:
        args += ["--serve", f"{cid}:{path}"]
    kw = {"stdin": subprocess.PIPE} if stdin else {}
    sim = procs(args, **kw)
    m = wait_for(lambda: re.search(r"^camsim: listening on 127\.0\.0\.1:(\d+)$", sim.text(), re.M), 20,
                 f"camsim to listen: {sim.text()}")
    assert port == 0 or int(m.group(1)) == port
    return sim, int(m.group(1))


def add_pulled(srv, name, port, path, transport):
    """A camvault camera pulling rtsp://127.0.0.1:port/path (camsim serves it
    once it knows the id camvault gave it)."""
    url = f"rtsp://127.0.0.1:{port}/{path}"
    return srv.add_camera(name, pull=url, transport=transport), url


def playing(srv, url, transport):
    return srv.count(rf"{re.escape(url)}: playing H264 over {transport.upper()}")


def watch_own_marks(srv, cid, others, min_count, seconds=3):
    """Reads the camera from camvault until it plays; checks the watermarks."""
    data = wait_for(lambda: read_h264_or_none(srv, cid, seconds), 60, f"{cid} to be watchable")
    return check_watermarks(data, cid, others, min_count)


def read_h264_or_none(srv, cam_id, seconds):
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                        "-i", srv.url(cam_id), "-c", "copy", "-f", "h264", "-t", str(seconds), "-"],
                       capture_output=True, timeout=(30 + seconds) * SLOW)
    return r.stdout if r.returncode == 0 and parse_sei(r.stdout) else None


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_camvault_pulls_a_served_camera(server, procs, transport):
    """--serve: camvault pulls the camera (OPTIONS, DESCRIBE, SETUP over TCP
    interleaved or UDP, PLAY); its viewers get that camera's watermarks."""
    srv = server()
    port = free_port()
    cam, url = add_pulled(srv, f"pulled-{transport}", port, f"yard/{transport}", transport)
    sim, _ = spawn_serving(procs, port, [(cam["id"], f"yard/{transport}")])
    wait_for(lambda: playing(srv, url, transport), 30, f"camvault to pull {url}: {srv.log()[-3000:]}")
    marks = watch_own_marks(srv, cam["id"], [], 50)
    assert marks[0][1] > 0
    assert sim.alive(), sim.text()
    stop_cleanly(sim)


def test_two_served_cameras_drop_all_and_come_back(server, procs):
    """drop all: every client connection of both served cameras is reset;
    camvault reconnects, and each camera's viewers get only its own marks,
    from after the drop."""
    srv = server()
    port = free_port()
    pulled = [add_pulled(srv, f"srv{i}", port, f"cam{i}/main", "tcp") for i in range(2)]
    ids = [c["id"] for c, _ in pulled]
    sim, _ = spawn_serving(procs, port, [(c["id"], f"cam{i}/main") for i, (c, _) in enumerate(pulled)], stdin=True)
    for _, url in pulled:
        wait_for(lambda: playing(srv, url, "tcp") >= 1, 30, f"camvault to pull {url}")
    before = {}
    for i, cid in enumerate(ids):
        before[cid] = watch_own_marks(srv, cid, ids[:i] + ids[i + 1:], 25, seconds=2)[-1][1]
    sessions = {url: playing(srv, url, "tcp") for _, url in pulled}
    command(sim, "drop all", r"drop [0-9a-f]{32}", count=2)
    for _, url in pulled:
        wait_for(lambda: playing(srv, url, "tcp") > sessions[url], 60, f"camvault to pull {url} again: {sim.text()}")
    for i, cid in enumerate(ids):
        marks = watch_own_marks(srv, cid, ids[:i] + ids[i + 1:], 25, seconds=2)
        assert marks[0][1] > before[cid] + 25, f"{cid}: marks from before the drop: {marks[0]} vs {before[cid]}"
    assert sim.alive(), sim.text()
    stop_cleanly(sim)


def rtsp_exchange(port, request, timeout=10):
    """Sends raw bytes to camsim's RTSP server; returns what it answers until
    it closes the connection or a whole answer arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_serve_unknown_path_and_bad_request(server, procs):
    """404 for a path nobody serves, 400 for a request that does not parse;
    camsim keeps serving the camera it has."""
    srv = server()
    port = free_port()
    cam, url = add_pulled(srv, "steady", port, "steady", "tcp")
    sim, _ = spawn_serving(procs, port, [(cam["id"], "steady")])
    wait_for(lambda: playing(srv, url, "tcp"), 30, f"camvault to pull {url}")
    ans = rtsp_exchange(port, f"DESCRIBE rtsp://127.0.0.1:{port}/nope RTSP/1.0\r\nCSeq: 7\r\n\r\n".encode())
    assert ans.startswith(b"RTSP/1.0 404 ") and b"CSeq: 7\r\n" in ans, ans
    ans = rtsp_exchange(port, f"DESCRIBE rtsp://127.0.0.1:{port}/steady RTSP/1.0\r\nCSeq: 8\r\n\r\n".encode())
    assert ans.startswith(b"RTSP/1.0 200 ") and b"Content-Base: " in ans, ans
    for junk in (b"\x16\x03\x01 not rtsp at all\r\n\r\n", b"DESCRIBE\r\n\r\n",
                 b"DESCRIBE rtsp://127.0.0.1/steady RTSP/1.0\r\n\r\n", b"\x00" * 300 + b"\r\n\r\n"):
        ans = rtsp_exchange(port, junk)
        assert ans.startswith(b"RTSP/1.0 400 "), (junk, ans)
    ans = rtsp_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert re.match(rb"RTSP/1\.0 (400|505) ", ans), ans
    assert sim.alive(), sim.text()
    watch_own_marks(srv, cam["id"], [], 50)
    assert playing(srv, url, "tcp") == 1, "camvault's pull was disturbed"
    stop_cleanly(sim)
