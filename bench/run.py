#!/usr/bin/python3
"""camvault benchmarks: one command, bounded in time, stdlib only.

    /usr/bin/python3 bench/run.py --build build [--quick]

Measures, against a running camvault (release or whatever --build holds)
with one push camera (1080p H.264, 4 Mbit/s, 2 s GOP, looped by ffmpeg):

  1. time to first decodable frame for a new viewer (bench/ttff.c);
  2. relay CPU seconds per delivered GB with 1, 10 and 100 viewers
     (bench/sink.c reads them all), and resident memory per viewer;
  3. the same CPU figure for a minimal fan-out program (bench/baseline.c)
     in the same run, interleaved with camvault's phases (A B B A ...),
     and the ratio camvault / baseline.

Prints a table and writes bench/out/results.json. Everything listens on
127.0.0.1 only. Every process started here is stopped on exit (and dies
with this script through PR_SET_PDEATHSIG if it is killed). See
bench/README.md for what each figure means."""
import argparse
import ctypes
import datetime
import json
import os
import queue
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUT = BENCH / "out"
BIN = OUT / "bin"
HELPERS = ("ttff", "sink", "baseline")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# The camera: what a 1080p home camera sends (25 fps, keyframe every 2 s, no B-frames).
CLIP_SECONDS = 20
CLIP = OUT / "clip1080_4M_g50.mp4"
CLIP_ARGS = [
    "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=25:duration={CLIP_SECONDS},noise=alls=12:allf=t",
    "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
    "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
    "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0", "-an",
]

# ------------------------------------------------------------------ processes

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Child:
    """A child process; stdout lines go to a queue, stderr to a list (both pumped by threads)."""

    all = []

    def __init__(self, name, args, stdin=False):
        self.name = name
        self.args = [str(a) for a in args]
        self.lines = queue.Queue()
        self.err = []
        self.err_lock = threading.Lock()
        self.p = subprocess.Popen(self.args, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                  errors="replace", preexec_fn=_die_with_parent)
        Child.all.append(self)
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self):
        for line in self.p.stderr:
            with self.err_lock:
                self.err.append((time.monotonic(), line.rstrip("\n")))

    def errlines(self, since=0.0):
        with self.err_lock:
            return [l for t, l in self.err if t >= since]

    def readline(self, timeout, what):
        """Next stdout line; raises after timeout seconds or if the process ended."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: timed out after {timeout:.0f}s waiting for {what}")
        if line is None:
            tail = "\n".join(self.errlines()[-10:])
            raise RuntimeError(f"{self.name} exited ({self.p.poll()}) while waiting for {what}:\n{tail}")
        return line

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=5.0):
        if self.p.poll() is None:
            try:
                if self.p.stdin:
                    self.p.stdin.close()  # the helpers exit on EOF
            except OSError:
                pass
            try:
                self.p.wait(timeout=0.5 if self.p.stdin else 0)
            except subprocess.TimeoutExpired:
                pass
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self in Child.all:
            Child.all.remove(self)
        return self.p.returncode

    @classmethod
    def stop_all(cls):
        for c in list(reversed(cls.all)):
            try:
                c.stop(timeout=3)
            except Exception as e:  # keep stopping the others
                print(f"warning: stopping {c.name}: {e}", file=sys.stderr)


def proc_cpu_stat_s(pid):
    """utime + stime of the whole process (all threads) from /proc/PID/stat, in seconds (10 ms steps)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_s(pid):
    """CPU time of the whole process in seconds, to the nanosecond: the kernel's per-process CPU clock
    (clock_getcpuclockid(pid), i.e. MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)), the same sum that
    /proc/PID/stat reports as utime+stime but without the 10 ms tick steps, which matter at 1 viewer."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:
        return proc_cpu_stat_s(pid)


def sys_cpu():
    """(busy, softirq) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, v[6]


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_io(pid):
    """(read syscalls, write syscalls) from /proc/PID/io; write() and writev() count, send() does not."""
    out = {}
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                out[k] = int(v)
    except OSError:
        return None
    return out.get("syscr", 0), out.get("syscw", 0)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---------------------------------------------------------------------- setup

def build_helpers():
    """Compiles the C helpers with cc (cheap; redone only when a source is newer)."""
    BIN.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    for name in HELPERS:
        src, exe = BENCH / f"{name}.c", BIN / name
        deps = [src, BENCH / "benchlib.h"]
        if exe.exists() and all(exe.stat().st_mtime >= d.stat().st_mtime for d in deps):
            continue
        cmd = [cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-Wall", "-Wextra", "-Wshadow", "-Wvla",
               "-Wmissing-prototypes", "-o", str(exe), str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode:
            sys.exit(f"building {name} failed:\n{r.stderr}")


def make_clip():
    if CLIP.exists():
        return
    print(f"encoding the 1080p 4 Mbit/s clip ({CLIP_SECONDS} s, once; cached in {CLIP.relative_to(ROOT)}) ...",
          flush=True)
    tmp = CLIP.with_suffix(".tmp.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *CLIP_ARGS, str(tmp)],
                   check=True, timeout=600)
    tmp.rename(CLIP)


def clip_info():
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,width,height,r_frame_rate:format=bit_rate,duration", "-of", "json",
                        str(CLIP)], capture_output=True, text=True, timeout=30)
    j = json.loads(r.stdout)
    s, f = j["streams"][0], j["format"]
    return {"codec": s["codec_name"], "width": s["width"], "height": s["height"], "fps": s["r_frame_rate"],
            "bitrate_bps": int(f["bit_rate"]), "seconds": float(f["duration"]), "gop_frames": 50}


def build_type(build):
    try:
        opts = json.loads((build / "meson-info" / "intro-buildoptions.json").read_text())
        return next(o["value"] for o in opts if o["name"] == "buildtype")
    except (OSError, ValueError, StopIteration):
        return "unknown"


class Server:
    """camvault serve, its log kept with arrival times."""

    def __init__(self, exe, data, config=None):
        self.exe, self.data = exe, data
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        args = [exe, "serve", "--data", data, "--rtsp-port", "0", "--http-port", "0", "--https-port", "-1", "--rtsps-port", "-1",
                "--log-level", "info"]
        if config:
            conf = data / "camvault.conf"
            conf.write_text("[server]\n" + "".join(f"{k} = {v}\n" for k, v in config.items()))
            args += ["--config", conf]
        self.c = Child("camvault", args)
        self.pid = self.c.p.pid
        self.port = int(self.wait_log(r"rtsp listening on 127\.0\.0\.1:(\d+)", 20).group(1))
        self.wait_log(r"\bready\b", 10)

    def wait_log(self, pattern, timeout, since=0.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.c.errlines(since):
                m = re.search(pattern, line)
                if m:
                    return m
            if not self.c.alive():
                raise RuntimeError("camvault exited:\n" + "\n".join(self.c.errlines()[-20:]))
            time.sleep(0.05)
        raise RuntimeError(f"camvault: no log line /{pattern}/ within {timeout}s")

    def count(self, pattern, since, until=None):
        until = until or time.monotonic() + 1e9
        with self.c.err_lock:
            return sum(1 for t, l in self.c.err if since <= t <= until and re.search(pattern, l))

    def cli(self, *args, stdin=None):
        r = subprocess.run([str(self.exe), *args, "--data", str(self.data), "--json", "--rtsp-port", str(self.port)],
                           input=stdin, capture_output=True, text=True, timeout=60)
        if r.returncode:
            raise RuntimeError(f"camvault {' '.join(args)} failed: {r.stderr}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    def add_camera(self, name):
        """A push camera in a home of its own; rtsp_url carries a capability
        token (viewers pay for the token check once, at DESCRIBE)."""
        home = f"bench-{os.getpid()}-{name}"
        self.cli("user", "add", home, "--password-stdin", stdin=os.urandom(12).hex() + "\n")
        self.cli("home", "add", home, "--owner", home)
        cam = self.cli("camera", "add", "--name", name, "--home", home)
        tok = self.cli("token", "issue", "--camera", cam["id"], "--ttl", "24h")
        cam["rtsp_url"] = tok["rtsp_url"]
        return cam


# ----------------------------------------------------------------- measuring

def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def run_ttff(url, tries, seed):
    c = Child("ttff", [BIN / "ttff", url, "--tries", tries, "--max-sleep-ms", 2000, "--seed", seed])
    rows = []
    try:
        for _ in range(tries):
            rows.append(json.loads(c.readline(12, "a ttff result")))
    finally:
        c.stop()
    ok = [r for r in rows if r.get("ok")]
    t = [r["ttff_ms"] for r in ok]
    nopre = [r["nopre_ms"] for r in ok if "nopre_ms" in r]
    out = {"tries": len(rows), "ok": len(ok), "rows": rows}
    if t:
        out.update(median_ms=statistics.median(t), p95_ms=pct(t, 95), min_ms=min(t), max_ms=max(t),
                   from_prebuffer=sum(1 for r in ok if r.get("from_prebuffer")),
                   idr_bytes_median=statistics.median(r["idr_bytes"] for r in ok),
                   play_ms_median=statistics.median(r["play_ms"] for r in ok))
    if nopre:
        out.update(nopre_median_ms=statistics.median(nopre), nopre_p95_ms=pct(nopre, 95), nopre_n=len(nopre))
    return out


def mark(child, what):
    child.send("m\n")
    while True:
        line = child.readline(10, what)
        if line.startswith("MARK"):
            return [int(x) for x in line.split()[1:]]


def window(pid, sink, warm, secs, extra=None):
    """Warm-up, then CPU of pid and bytes read by sink over secs seconds."""
    time.sleep(warm)
    la0 = loadavg()
    io0, sys0, st0 = proc_io(pid), sys_cpu(), proc_cpu_stat_s(pid)
    cpu0, m0 = proc_cpu_s(pid), mark(sink, "sink mark")
    e0 = extra() if extra else None
    time.sleep(secs)
    cpu1, m1 = proc_cpu_s(pid), mark(sink, "sink mark")
    e1 = extra() if extra else None
    io1, sys1, st1 = proc_io(pid), sys_cpu(), proc_cpu_stat_s(pid)
    dt = (m1[0] - m0[0]) / 1e9
    got = m1[1] - m0[1]
    cpu = cpu1 - cpu0
    r = {"seconds": round(dt, 3), "cpu_s": round(cpu, 4), "cpu_s_stat": round(st1 - st0, 2), "bytes": got,
         "mbit_s": round(got * 8 / dt / 1e6, 2),
         "cpu_s_per_gb": round(cpu / (got / 1e9), 4) if got else None,
         "cpu_pct": round(100 * cpu / dt, 2), "open": m1[2], "closed_by_server": m1[3],
         "frames": m1[5] - m0[5], "lost_pkts": m1[6] - m0[6], "lost_pkts_total": m1[6], "loadavg": la0,
         "machine_busy_pct": round(100 * (sys1[0] - sys0[0]) / CLK_TCK / dt / (os.cpu_count() or 1), 1),
         "machine_softirq_s": round((sys1[1] - sys0[1]) / CLK_TCK, 2)}
    if io0 and io1:
        r["write_syscalls"] = io1[1] - io0[1]
        r["read_syscalls"] = io1[0] - io0[0]
    if e0 and e1:
        r["extra"] = (e0, e1)
    return r


def camvault_phase(srv, url, n, warm, secs):
    rss0 = proc_rss_kib(srv.pid)
    t0 = time.monotonic()
    sink = Child(f"sink-rtsp-{n}", [BIN / "sink", "rtsp", url, n], stdin=True)
    try:
        ready = sink.readline(60, "sink READY").split()
        setup_s = time.monotonic() - t0
        r = window(srv.pid, sink, warm, secs)
        rss1 = proc_rss_kib(srv.pid)
        t1 = time.monotonic()
        r.update(system="camvault", viewers=n, ready=int(ready[1]), failed=int(ready[2]), setup_s=round(setup_s, 3),
                 rss_kib_before=rss0, rss_kib_during=rss1,
                 rss_kib_per_viewer=round((rss1 - rss0) / n, 1),
                 too_slow=srv.count(r"too slow", t0, t1), stalled=srv.count(r"stalled", t0, t1),
                 server_closed=srv.count(r"closing connection(?!.*peer closed)", t0, t1),
                 warnings=srv.count(r" (WARN|ERROR) ", t0, t1),
                 sink_cpu_s=round(proc_cpu_s(sink.p.pid), 3))
        if r["frames"] and n:
            r["writes_per_frame_per_viewer"] = round(r.get("write_syscalls", 0) / r["frames"], 3)
    finally:
        sink.stop()
    if not srv.c.alive():
        raise RuntimeError("camvault died during the load phase:\n" + "\n".join(srv.c.errlines()[-30:]))
    return r


def baseline_phase(srv, url, n, warm, secs):
    bl = Child("baseline", [BIN / "baseline", url], stdin=True)
    sink = None
    try:
        port = int(bl.readline(20, "baseline LISTEN").split()[1])
        sink = Child(f"sink-raw-{n}", [BIN / "sink", "raw", f"127.0.0.1:{port}", n], stdin=True)
        ready = sink.readline(60, "sink READY").split()
        r = window(bl.p.pid, sink, warm, secs, extra=lambda: mark(bl, "baseline mark"))
        b0, b1 = r.pop("extra")
        r.update(system="baseline", viewers=n, ready=int(ready[1]), failed=int(ready[2]),
                 rss_kib_during=proc_rss_kib(bl.p.pid),
                 sends=b1[3] - b0[3], baseline_drops=b1[4] - b0[4], frames_in=b1[1] - b0[1],
                 sink_cpu_s=round(proc_cpu_s(sink.p.pid), 3))
        if r["frames_in"]:
            r["writes_per_frame_per_viewer"] = round(r.get("write_syscalls", 0) / r["frames_in"] / n, 3)
    finally:
        if sink:
            sink.stop()
        bl.stop()
    return r


def churn(srv, url, n, cycles):
    """n viewers join, play 1 s and leave, cycles times; camvault's RSS at 0 viewers after each cycle.
    Retained heap levels off after the first cycle; a leak would keep climbing."""
    rows = []
    for i in range(cycles):
        t0 = time.monotonic()
        sink = Child(f"sink-churn-{i}", [BIN / "sink", "rtsp", url, n], stdin=True)
        try:
            ready = sink.readline(60, "sink READY").split()
            time.sleep(1.0)
            during = proc_rss_kib(srv.pid)
        finally:
            sink.stop()
        time.sleep(0.3)
        rows.append({"cycle": i, "ready": int(ready[1]), "rss_kib_during": during,
                     "rss_kib_after": proc_rss_kib(srv.pid),
                     "server_closed": srv.count(r"closing connection(?!.*peer closed)", t0)})
    out = {"viewers": n, "cycles": rows}
    if len(rows) >= 5:  # fewer cycles: the heap is still settling, a slope would mislead
        out["rss_kib_growth_per_cycle_after_first"] = round(
            (rows[-1]["rss_kib_after"] - rows[1]["rss_kib_after"]) / (len(rows) - 2), 1)
    return out


def summarize(phases, viewers, idle_cpu_pct):
    out = {}
    for n in viewers:
        cv = [p for p in phases if p["system"] == "camvault" and p["viewers"] == n and p["cpu_s_per_gb"]]
        bl = [p for p in phases if p["system"] == "baseline" and p["viewers"] == n and p["cpu_s_per_gb"]]
        s = {}
        if cv:
            xs = [p["cpu_s_per_gb"] for p in cv]
            s["camvault_s_per_gb"] = round(statistics.median(xs), 3)
            s["camvault_runs"] = xs
            # Fan-out only: the CPU above the no-viewer (ingest) cost, per delivered GB (at 1 viewer
            # the difference is below the noise, so it is left out).
            if n >= 10:
                s["camvault_fanout_s_per_gb"] = round(statistics.median(
                    (p["cpu_s"] - idle_cpu_pct / 100 * p["seconds"]) / (p["bytes"] / 1e9) for p in cv), 3)
            # The first phase of each N grows the heap; later ones reuse what the previous phase freed.
            # With few viewers the difference drowns in heap noise, so only the largest N reports it.
            if n == max(viewers) and n >= 50:
                s["rss_kib_per_viewer"] = max(p["rss_kib_per_viewer"] for p in cv)
            s["rss_kib_per_viewer_runs"] = [p["rss_kib_per_viewer"] for p in cv]
            s["too_slow"] = sum(p["too_slow"] for p in cv)
            s["closed_by_server"] = sum(p["closed_by_server"] for p in cv)
            s["lost_pkts"] = sum(p["lost_pkts"] for p in cv)
            s["camvault_cpu_pct"] = round(statistics.median(p["cpu_pct"] for p in cv), 2)
            s["mbit_s"] = round(statistics.median(p["mbit_s"] for p in cv), 1)
            s["writes_per_frame_per_viewer"] = statistics.median(p.get("writes_per_frame_per_viewer", 0) for p in cv)
        if bl:
            xs = [p["cpu_s_per_gb"] for p in bl]
            s["baseline_s_per_gb"] = round(statistics.median(xs), 3)
            s["baseline_runs"] = xs
            s["baseline_cpu_pct"] = round(statistics.median(p["cpu_pct"] for p in bl), 2)
        if cv and bl:
            pairs = [a["cpu_s_per_gb"] / b["cpu_s_per_gb"] for a, b in zip(cv, bl)]
            s["ratio"] = round(statistics.median(pairs), 2)
            s["ratio_runs"] = [round(x, 2) for x in pairs]
        out[str(n)] = s
    return out


def fmt_runs(xs):
    return "/".join(f"{x:.2f}" for x in xs)


def print_table(res):
    t = res["ttff"]
    m, c = res["meta"], res["clip"]
    print()
    print(f"camvault ({m['camvault_buildtype']} build), {m['cpus']} CPUs; camera {c['width']}x{c['height']} H.264 "
          f"{c['bitrate_bps'] / 1e6:.2f} Mbit/s, 25 fps, GOP 2 s; camvault CPU with no viewer {res['idle_cpu_pct']}%")
    if "median_ms" in t:
        print(f"time to first decodable frame ({t['ok']}/{t['tries']} tries): median {t['median_ms']:.2f} ms, "
              f"p95 {t['p95_ms']:.2f} ms (min {t['min_ms']:.2f}, max {t['max_ms']:.2f}); "
              f"{t['from_prebuffer']} started from the prebuffer; the handshake (connect to PLAY reply) took "
              f"{t['play_ms_median']:.2f} ms, the IDR (median {t['idr_bytes_median'] / 1000:.0f} kB) the rest")
    if "nopre_median_ms" in t:
        print(f"  a viewer without a prebuffer (waits for the next live keyframe): median {t['nopre_median_ms']:.0f} ms, "
              f"p95 {t['nopre_p95_ms']:.0f} ms")
    print()
    hdr = (f"{'viewers':>7} | {'camvault s/GB':>13} | {'baseline s/GB':>13} | {'ratio':>5} | {'fan-out s/GB':>12} | "
           f"{'cv CPU%':>7} | {'Mbit/s':>6} | {'RSS/viewer':>10} | writes/frame | drops")
    print(hdr)
    print("-" * len(hdr))

    def f(v, spec):
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return format(v, spec) if isinstance(v, (int, float)) else format("-", ">" + (width or "1"))

    for n, s in res["summary"].items():
        rss = s.get("rss_kib_per_viewer")
        print(f"{n:>7} | {f(s.get('camvault_s_per_gb'), '13.3f')} | {f(s.get('baseline_s_per_gb'), '13.3f')} | "
              f"{f(s.get('ratio'), '5.2f')} | {f(s.get('camvault_fanout_s_per_gb'), '12.3f')} | "
              f"{f(s.get('camvault_cpu_pct'), '7.2f')} | {f(s.get('mbit_s'), '6.1f')} | "
              f"{(f(rss, '.1f') + ' KiB') if rss is not None else '-':>10} | "
              f"{f(s.get('writes_per_frame_per_viewer'), '12.3f')} | "
              f"too-slow {s.get('too_slow', 0)}, closed {s.get('closed_by_server', 0)}, lost pkts {s.get('lost_pkts', 0)}")
        if "camvault_runs" in s:
            print(f"{'':>7}   runs: camvault {fmt_runs(s['camvault_runs'])}; baseline {fmt_runs(s.get('baseline_runs', []))}; "
                  f"ratio {fmt_runs(s.get('ratio_runs', []))}")
    ch = res.get("churn", {})
    cyc = ch.get("cycles", [])
    print(f"camvault RSS: {res['rss_kib_idle']} KiB idle, {res['rss_kib_end']} KiB at the end; "
          f"server alive at the end: {res['server_alive_at_end']}")
    if cyc:
        print(f"churn ({len(cyc)} x {ch['viewers']} viewers joining and leaving): RSS at 0 viewers after each cycle "
              + " ".join(str(c["rss_kib_after"]) for c in cyc) + " KiB"
              + (f"; growth after the first cycle {ch['rss_kib_growth_per_cycle_after_first']} KiB/cycle"
                 if "rss_kib_growth_per_cycle_after_first" in ch else ""))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="meson build directory holding src/cli/camvault")
    ap.add_argument("--quick", action="store_true", help="about 1.5 minutes: fewer tries, shorter windows, one pair")
    ap.add_argument("--viewers", default="1,10,100")
    ap.add_argument("--reps", type=int, help="camvault/baseline pairs per viewer count (default 3, quick 1)")
    ap.add_argument("--window", type=float, help="seconds measured per phase (default 10, quick 5)")
    ap.add_argument("--warmup", type=float, help="seconds before each window (default 3, quick 2)")
    ap.add_argument("--ttff-tries", type=int, help="default 20, quick 8")
    ap.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                    help="camvault [server] setting for the run (e.g. viewer_queue_kib=16384)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=str(OUT / "results.json"))
    a = ap.parse_args()
    reps = a.reps or (1 if a.quick else 3)
    win = a.window or (5.0 if a.quick else 10.0)
    warm = a.warmup if a.warmup is not None else (2.0 if a.quick else 3.0)
    tries = a.ttff_tries or (8 if a.quick else 20)
    viewers = [int(x) for x in a.viewers.split(",") if x]
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    config = dict(kv.split("=", 1) for kv in a.config)

    build = Path(a.build)
    if not build.is_absolute():
        build = ROOT / build
    exe = build / "src" / "cli" / "camvault"
    if not exe.exists():
        sys.exit(f"{exe} not found: build camvault first (meson setup {a.build} && ninja -C {a.build})")
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install ffmpeg)")

    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(parents=True, exist_ok=True)
    build_helpers()
    make_clip()
    res = {"meta": {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "kernel": os.uname().release,
                    "camvault": str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else str(exe),
                    "camvault_buildtype": build_type(build),
                    "camvault_built": datetime.datetime.fromtimestamp(exe.stat().st_mtime).astimezone().isoformat(
                        timespec="seconds"),
                    "quick": a.quick, "reps": reps,
                    "window_s": win, "warmup_s": warm, "seed": seed, "config": config,
                    "command": " ".join(["bench/run.py"] + sys.argv[1:])},
           "clip": clip_info()}
    try:
        git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        res["meta"]["git"] = git.stdout.strip()
        st = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True,
                            text=True, timeout=10)
        res["meta"]["src_uncommitted"] = st.stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        pass

    srv = None
    error = None
    try:
        srv = Server(exe, OUT / "var", config)
        cam = srv.add_camera("bench-1080p")
        t_push = time.monotonic()
        Child("camera", ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-stream_loop", "-1",
                         "-i", CLIP, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", cam["ingest_url"]])
        srv.wait_log(r"is live", 20, since=t_push)
        url = cam["rtsp_url"]
        time.sleep(2.5)  # a full GOP in the prebuffer
        res["rss_kib_idle"] = proc_rss_kib(srv.pid)
        # The fixed cost: the camera's ingest (read, depacketize, packetize once) with no viewer.
        idle_s = 4.0 if a.quick else 8.0
        c0, t0 = proc_cpu_s(srv.pid), time.monotonic()
        time.sleep(idle_s)
        res["idle_cpu_pct"] = round(100 * (proc_cpu_s(srv.pid) - c0) / (time.monotonic() - t0), 3)
        print(f"camvault pid {srv.pid} on 127.0.0.1:{srv.port}, camera live; RSS {res['rss_kib_idle']} KiB, "
              f"CPU with no viewer {res['idle_cpu_pct']}%", flush=True)

        print(f"time to first frame: {tries} tries at random GOP phases ...", flush=True)
        res["ttff"] = run_ttff(url, tries, seed)
        res["rss_kib_after_ttff"] = proc_rss_kib(srv.pid)

        phases = []
        res["phases"] = phases
        for n in viewers:
            for rep in range(reps):
                order = ("camvault", "baseline") if rep % 2 == 0 else ("baseline", "camvault")
                for system in order:
                    print(f"{system:>8} x {n:>3} viewers (pair {rep + 1}/{reps}) ...", end=" ", flush=True)
                    if system == "camvault":
                        p = camvault_phase(srv, url, n, warm, win)
                    else:
                        p = baseline_phase(srv, url, n, warm, win)
                    p["pair"] = rep
                    phases.append(p)
                    print(f"{p['cpu_s_per_gb']} s/GB, {p['cpu_pct']}% CPU, {p['mbit_s']} Mbit/s, "
                          f"lost pkts {p['lost_pkts']}, closed {p['closed_by_server']}", flush=True)
        cycles = 3 if a.quick else 8
        print(f"churn: {cycles} cycles of {max(viewers)} viewers joining and leaving ...", flush=True)
        res["churn"] = churn(srv, url, max(viewers), cycles)
        res["rss_kib_end"] = proc_rss_kib(srv.pid)
        res["summary"] = summarize(phases, viewers, res["idle_cpu_pct"])
        res["server_log_warnings"] = [l for l in srv.c.errlines() if re.search(r" (WARN|ERROR) ", l)][:50]
        res["server_alive_at_end"] = srv.c.alive()
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        # A failure is a result too (camvault crashing or dropping viewers under load): keep what was
        # measured and the server's last log lines.
        error = f"{type(e).__name__}: {e}"
        res["error"] = error
        if srv:
            res["camvault_alive"] = srv.c.alive()
            res["camvault_log_tail"] = srv.c.errlines()[-60:]
    finally:
        Child.stop_all()
    res["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if error:
        sys.exit(f"benchmark failed: {error}\n(partial results in {a.out})")
    print_table(res)
    print(f"wrote {a.out} ({res['meta']['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
