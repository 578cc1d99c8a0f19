#!/usr/bin/python3
"""camvault HTTP delivery benchmarks (issue 4): one command, bounded in time,
stdlib only (plus the repo's own test helpers and browser harness).

    /usr/bin/python3 bench/watch.py --build build [--quick]

  1. Glass-to-glass latency. A pattern camera (tests/integration/pattern.py)
     draws its capture wall-clock time into every picture and pushes it over
     RTSP (x264 ultrafast, zerolatency, 640x360, 25 fps, 2 s GOP). Each client
     decodes the pictures and subtracts: RTSP and progressive fMP4 with
     ffmpeg, LL-HLS with hls.js in Debian's chromium (tests/browser).
  2. Snapshot latency on the 1080p 4 Mbit/s clip of bench/run.py: a cold
     decoder (closed after 10 s unused), a warm decoder on a new keyframe, and
     a repeat of the same keyframe (cached).
  3. Server CPU seconds per delivered GB with 100 LL-HLS viewers (asyncio
     clients doing what hls.js does: blocking playlist reload, then the hinted
     part) and, in the same run, 100 progressive MP4 viewers, on the same
     1080p camera.

Writes bench/out/watch.json and prints a summary."""
import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import run as benchrun  # noqa: E402
from pattern import PatternCamera, decode_stream  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def http_port(srv):
    return int(srv.wait_log(r"\bhttp listening on 127\.0\.0\.1:(\d+)", 10).group(1))


def summary(xs):
    xs = sorted(xs)
    return {"n": len(xs), "median_ms": round(statistics.median(xs), 1), "p95_ms": round(benchrun.pct(xs, 95), 1),
            "min_ms": round(xs[0], 1), "max_ms": round(xs[-1], 1)} if xs else {"n": 0}


def latency(srv, cam, tok, base, seconds, browser_runs):
    out = {}
    for name, url, extra in [("rtsp", cam["rtsp_url"], ["-rtsp_transport", "tcp"]),
                             ("progressive_mp4", f"{base}/cam/{cam['id']}/live.mp4?token={tok}", [])]:
        d = decode_stream(url, seconds=seconds, size=(640, 360), extra_input_args=extra, timeout=seconds + 60)
        lat = d.latencies_ms()[25:]  # after the first second (the prebuffer arrives at once)
        wrong = sum(1 for c in d.codes() if c[0] != cam["id"])
        out[name] = dict(summary(lat), frames=len(d.codes()), foreign=wrong)
    runs = []
    for _ in range(browser_runs):
        r = subprocess.run(["node", str(ROOT / "tests" / "browser" / "play-hls.mjs"), "--url",
                            f"{base}/cam/{cam['id']}/index.m3u8?token={tok}", "--seconds", str(seconds),
                            "--expect-camera", cam["id"], "--timeout", str(seconds + 60)],
                           capture_output=True, text=True, timeout=seconds + 120)
        try:
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            runs.append({"ok": False, "stderr": r.stderr[-500:]})
    lat = [x["latency_ms"] for x in runs if x.get("ok") and x.get("latency_ms")]
    out["ll_hls_hlsjs"] = {"runs": len(runs), "ok": sum(1 for x in runs if x.get("ok")),
                           "latency_ms_per_run": lat, "median_ms": statistics.median(lat) if lat else None,
                           "low_latency": all(x.get("lowLatency") for x in runs)}
    return out


def snapshot_times(url, n_cold, n_warm):
    def one():
        t0 = time.monotonic()
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read()
        assert body[:2] == b"\xff\xd8"
        return (time.monotonic() - t0) * 1000

    cold, warm, cached = [], [], []
    for _ in range(n_cold):
        time.sleep(10.8)  # the decoder closes 10 s after its last use
        cold.append(one())
    for _ in range(n_warm):
        time.sleep(2.05)  # a new keyframe (2 s GOP), decoder still open
        warm.append(one())
        cached.append(one())
    return {"cold": summary(cold), "warm_new_keyframe": summary(warm), "same_keyframe": summary(cached)}


async def hls_viewer(host, port, path_mp, stop_at, stats):
    """What hls.js does at the live edge: blocking reload for the next part,
    then that part; bytes counted."""
    reader, writer = await asyncio.open_connection(host, port)

    async def get(path):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        body = await reader.readexactly(n)
        stats["bytes"] += len(head) + n
        return int(head.split()[1]), body

    try:
        st, pl = await get(path_mp)
        if st != 200:
            stats["errors"] += 1
            return
        sid = re.search(rb"s=([0-9a-f]{32})", path_mp.encode()).group(1).decode()
        root = path_mp.rsplit("/", 1)[0]
        while time.monotonic() < stop_at:
            msn, part = map(int, re.search(rb'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)', pl).groups())
            st, chunk = await get(f"{root}/p{msn}.{part}.m4s?s={sid}")
            if st == 200:
                stats["parts"] += 1
            st, pl = await get(f"{path_mp}&_HLS_msn={msn}&_HLS_part={part}")
            if st != 200:
                stats["errors"] += 1
                break
    finally:
        writer.close()


async def mp4_viewer(host, port, path, stop_at, stats):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
    await writer.drain()
    try:
        while time.monotonic() < stop_at:
            data = await asyncio.wait_for(reader.read(1 << 16), timeout=10)
            if not data:
                stats["errors"] += 1
                break
            stats["bytes"] += len(data)
    finally:
        writer.close()


def load(srv, port, paths, viewer, seconds):
    stats = {"bytes": 0, "parts": 0, "errors": 0}

    async def main():
        stop_at = time.monotonic() + seconds + 3
        tasks = [asyncio.create_task(viewer("127.0.0.1", port, p, stop_at, stats)) for p in paths]
        await asyncio.sleep(3)  # everyone connected and at the live edge
        b0, c0, t0 = stats["bytes"], cpu_seconds(srv.pid), time.monotonic()
        await asyncio.sleep(seconds)
        b1, c1, t1 = stats["bytes"], cpu_seconds(srv.pid), time.monotonic()
        await asyncio.gather(*tasks, return_exceptions=True)
        return b1 - b0, c1 - c0, t1 - t0

    nbytes, cpu, wall = asyncio.run(main())
    gb = nbytes / 1e9
    return {"viewers": len(paths), "seconds": round(wall, 1), "bytes": nbytes, "mbit_s": round(nbytes * 8 / wall / 1e6, 1),
            "server_cpu_s": round(cpu, 2), "server_cpu_pct_of_core": round(100 * cpu / wall, 1),
            "cpu_s_per_gb": round(cpu / gb, 2) if gb else None, "parts": stats["parts"], "errors": stats["errors"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="shorter phases")
    a = ap.parse_args()
    exe = (ROOT / a.build / "src" / "cli" / "camvault").resolve()
    if not exe.exists():
        sys.exit(f"no camvault at {exe}: build first")
    benchrun.OUT.mkdir(parents=True, exist_ok=True)
    benchrun.make_clip()
    secs = 8 if a.quick else 15
    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "build": a.build,
           "buildtype": benchrun.build_type(ROOT / a.build), "quick": a.quick}
    srv = benchrun.Server(exe, benchrun.OUT / "watch-var")
    try:
        port = http_port(srv)
        base = f"http://127.0.0.1:{port}"
        # 1. latency, pattern camera
        cam = srv.add_camera("pattern")
        ingest = cam["ingest_url"]
        tok = srv.cli("token", "issue", "--camera", cam["id"], "--ttl", "24h", "--scope", "all")["token"]
        pc = PatternCamera(ingest, cam["id"], size=(640, 360), fps=25).start()
        try:
            benchrun.time.sleep(3)
            res["latency"] = latency(srv, cam, tok, base, secs, 2 if a.quick else 3)
            res["latency"]["camera_late_frames"] = pc.late
        finally:
            pc.stop()
        # 2./3. the 1080p camera
        big = srv.add_camera("clip1080")
        btok = srv.cli("token", "issue", "--camera", big["id"], "--ttl", "24h", "--scope", "all")["token"]
        benchrun.Child("camera", ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-stream_loop",
                                  "-1", "-i", benchrun.CLIP, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
                                  big["ingest_url"]])
        snap = f"{base}/cam/{big['id']}/snapshot.jpg?token={btok}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(snap, timeout=10) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the 1080p camera never became watchable")
            time.sleep(0.3)
        res["clip"] = benchrun.clip_info()
        res["snapshot_1080p"] = snapshot_times(snap, 2 if a.quick else 3, 4 if a.quick else 8)
        with urllib.request.urlopen(f"{base}/cam/{big['id']}/index.m3u8?token={btok}", timeout=30) as r:
            variant = [l for l in r.read().decode().splitlines() if l and not l.startswith("#")][0]
        n = 100
        mps = []
        for _ in range(n):  # each viewer with its own token (a token holds at most 16 HLS sessions)
            vtok = srv.cli("token", "issue", "--camera", big["id"], "--ttl", "1h")["token"]
            with urllib.request.urlopen(f"{base}/cam/{big['id']}/index.m3u8?token={vtok}", timeout=30) as r:
                v = [l for l in r.read().decode().splitlines() if l and not l.startswith("#")][0]
            mps.append(f"/cam/{big['id']}/{v}")
        del variant
        res["hls_100"] = load(srv, port, mps, hls_viewer, secs)
        res["mp4_100"] = load(srv, port, [f"/cam/{big['id']}/live.mp4?token={btok}"] * n, mp4_viewer, secs)
        res["server_alive"] = srv.c.alive()
    finally:
        benchrun.Child.stop_all()
    out = benchrun.OUT / "watch.json"
    out.write_text(json.dumps(res, indent=2))
    lat = res["latency"]
    print(f"glass-to-glass (640x360 pattern camera, median): RTSP {lat['rtsp'].get('median_ms')} ms, "
          f"progressive MP4 {lat['progressive_mp4'].get('median_ms')} ms, "
          f"LL-HLS in chromium/hls.js {lat['ll_hls_hlsjs']['median_ms']} ms (runs {lat['ll_hls_hlsjs']['latency_ms_per_run']})")
    s = res["snapshot_1080p"]
    print(f"snapshot 1080p: cold {s['cold'].get('median_ms')} ms, warm decoder new keyframe "
          f"{s['warm_new_keyframe'].get('median_ms')} ms, same keyframe {s['same_keyframe'].get('median_ms')} ms")
    for k in ("hls_100", "mp4_100"):
        r = res[k]
        print(f"{k}: {r['mbit_s']} Mbit/s delivered, server {r['server_cpu_pct_of_core']}% of a core, "
              f"{r['cpu_s_per_gb']} CPU s/GB, errors {r['errors']}")
    print(f"(details in {out.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
