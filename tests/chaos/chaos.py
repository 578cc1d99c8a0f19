"""The cross-home isolation chaos test (issue 5). Started by tests/chaos/run.

One run:
  1. starts camvault (small queues, so cache and queue pressure is real) on
     127.0.0.1 inside its own network namespace when it can make one, so
     kernel bandwidth caps (tc htb) touch nothing else;
  2. creates homes, each with cameras (camsim: RTSP push over TCP and UDP,
     and pull-served cameras camvault fetches), people and credentials;
  3. starts viewers (tests/chaos/viewers.py, in worker processes), each
     authorised for exactly one camera, over every delivery path, many of
     them behind the fault proxies (tests/chaos/faultproxy.py), plus one
     control viewer whose expected camera is deliberately wrong;
  4. for --minutes, injects faults and events at random (seeded): delay,
     jitter, bandwidth, stalls, cuts, half-closes, resets, UDP loss,
     duplication and reordering, kernel bandwidth caps; token revocation,
     grant removal, member removal, user disable, camera deletion and
     creation, camera restarts, stalls, garbage and resolution changes, a
     fleet-wide drop and return at one moment, viewer reconnect storms;
  5. heals the network and checks every viewer that is still authorised
     gets its camera again;
  6. prints the counts and one summary line

     chaos: frames=N foreign=N late=N unrecovered=N crashes=N control=1 peak_rss_mb=N

     and exits 1 if foreign, late, unrecovered or crashes is not 0, or the
     control viewer was not flagged.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tools" / "camsim"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from faultproxy import FaultNet  # noqa: E402
import clips  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "ERROR: ThreadSanitizer")
HEAL_WINDOW_S = 60  # after healing, every authorised viewer must see its camera within this


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_for(pred, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pred()
        if r:
            return r
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


# --------------------------------------------------------------------------
class Camvault:
    def __init__(self, build, data, config):
        self.bin = str(Path(build) / "src" / "cli" / "camvault")
        self.data = Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.conf = self.data / "camvault.conf"
        self.conf.write_text("[server]\n" + "".join(f"{k} = {v}\n" for k, v in config.items()))
        self.lines = []
        self.lock = threading.Lock()
        self.proc = None
        self.rtsp_port = self.http_port = None
        self.peak_rss_kb = 0

    def start(self):
        self.logf = open(self.data / "camvault.log", "w")
        self.proc = subprocess.Popen([self.bin, "serve", "--data", str(self.data), "--config", str(self.conf),
                                      "--rtsp-port", "0", "--http-port", "0", "--https-port", "-1",
                                      "--rtsps-port", "-1"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        threading.Thread(target=self._pump, daemon=True).start()
        self.rtsp_port = int(wait_for(lambda: self.find(r"rtsp listening on [\d.]+:(\d+)"), 30, "rtsp").group(1))
        self.http_port = int(wait_for(lambda: self.find(r"\bhttp listening on [\d.]+:(\d+)"), 30, "http").group(1))
        wait_for(lambda: self.find(r"\bready\b"), 30, "camvault ready")

    def _pump(self):
        for line in self.proc.stdout:
            self.logf.write(line)
            with self.lock:
                self.lines.append(line.rstrip("\n"))
                if len(self.lines) > 20000:
                    del self.lines[:10000]
            for m in SANITIZER_MARKS:
                if m in line:
                    self.sanitizer = line.strip()
        self.logf.flush()

    sanitizer = None

    def find(self, pattern):
        with self.lock:
            for line in self.lines:
                m = re.search(pattern, line)
                if m:
                    return m
        return None

    def alive(self):
        return self.proc.poll() is None

    def sample_rss(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except OSError:
            pass

    def cli(self, *args, stdin=None, check=True):
        cmd = [self.bin, *args, "--data", str(self.data), "--json", "--rtsp-port", str(self.rtsp_port)]
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip().startswith(("{", "[")) else r

    def stop(self):
        """SIGTERM; returns the list of problems (non-zero exit, sanitizer report)."""
        problems = []
        self.sample_rss()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("camvault did not stop within 60 s of SIGTERM")
        time.sleep(0.2)
        if self.proc.returncode not in (0, None) and not problems:
            problems.append(f"camvault exited with {self.proc.returncode}")
        if self.sanitizer:
            problems.append(f"sanitizer report: {self.sanitizer}")
        return problems


# --------------------------------------------------------------------------
class Fleet:
    """camsim processes: one per home for push cameras, one pull server per home."""

    def __init__(self, build, workdir):
        self.bin = str(Path(build) / "tools" / "camsim" / "camsim")
        self.workdir = Path(workdir)
        self.procs = {}  # name -> (Popen, args, stdout lines)
        self.restarts = 0
        self.died = []  # (name, exit status) of camsims that exited by themselves

    def supports_serve(self):
        r = subprocess.run([self.bin, "--help"], capture_output=True, text=True)
        return "--listen" in (r.stdout + r.stderr)

    def start(self, name, args):
        logf = open(self.workdir / f"camsim-{name}.log", "a")
        p = subprocess.Popen([self.bin, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                             text=True, bufsize=1)
        out = []

        def pump():
            for line in p.stdout:
                out.append(line.rstrip())
                logf.write(line)
                logf.flush()
        threading.Thread(target=pump, daemon=True).start()
        self.procs[name] = (p, args, out)
        return p, out

    def send(self, name, line):
        p = self.procs[name][0]
        try:
            p.stdin.write(line + "\n")
            p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def send_all(self, line):
        for name in list(self.procs):
            self.send(name, line)

    def restart(self, name, extra=()):
        p, args, _ = self.procs[name]
        if p.poll() is not None and p.returncode != -signal.SIGKILL:
            self.died.append((name, p.returncode))
        p.kill()
        p.wait()
        self.restarts += 1
        seq = int(time.time() * 1000)  # camsim bases sequences on the wall clock too; keep them rising
        return self.start(name, [*args, *extra] if extra else args)[0], seq

    def dead(self):
        return [n for n, (p, _, _) in self.procs.items() if p.poll() is not None]

    def sanitizer_reports(self):
        found = []
        for f in self.workdir.glob("camsim-*.log"):
            text = f.read_text(errors="replace")
            found += [f"{f.name}: {m}" for m in SANITIZER_MARKS if m in text]
        return found

    def stop(self):
        for p, _, _ in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p, _, _ in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


# --------------------------------------------------------------------------
class Workers:
    """Viewer worker processes (tests/chaos/viewers.py)."""

    def __init__(self, n, seed):
        self.procs = []
        self.tallies = {}
        self.udp = {}
        self.lock = threading.Lock()
        self.where = {}
        for i in range(n):
            p = subprocess.Popen([sys.executable, str(HERE / "viewers.py"), str(seed * 100 + i)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            self.procs.append(p)
            threading.Thread(target=self._pump, args=(i, p), daemon=True).start()
        self.finals = 0

    def _pump(self, i, p):
        for line in p.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.tallies.update(msg["v"])
                if "udp" in msg:
                    self.udp[i] = msg["udp"]
                if msg["op"] == "final":
                    self.finals += 1

    def send(self, i, obj):
        p = self.procs[i]
        try:
            p.stdin.write(json.dumps(obj) + "\n")
            p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def start_viewer(self, spec):
        i = len(self.where) % len(self.procs)
        self.where[spec["id"]] = i
        self.send(i, {"op": "start", "spec": spec})

    def revoke(self, vid, t):
        self.send(self.where[vid], {"op": "revoke", "id": vid, "t": t})

    def kick(self, vids):
        for i in range(len(self.procs)):
            self.send(i, {"op": "kick", "ids": [v for v in vids if self.where.get(v) == i]})

    def set_udp(self, faults):
        for i in range(len(self.procs)):
            self.send(i, {"op": "udp", "faults": faults})

    def snapshot(self):
        with self.lock:
            return {k: dict(v) for k, v in self.tallies.items()}

    def dead(self):
        return [i for i, p in enumerate(self.procs) if p.poll() is not None]

    def quit(self):
        for i in range(len(self.procs)):
            self.send(i, {"op": "quit"})
        try:
            wait_for(lambda: self.finals >= len(self.procs), 60, "viewer workers to finish")
        finally:
            for p in self.procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


# --------------------------------------------------------------------------
class Shaper:
    """Kernel bandwidth caps (tc htb on lo) on chosen source ports; only used
    inside the run's own network namespace."""

    def __init__(self):
        self.ok = False
        self.ports = {}
        self.changes = 0

    def setup(self):
        cmds = [["ip", "link", "set", "lo", "up"],
                ["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10", "r2q", "1000"],
                ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "20gbit"]]
        for c in cmds:
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode != 0:
                log(f"shaper unavailable ({' '.join(c)}: {r.stderr.strip()})")
                return False
        self.ok = True
        return True

    def cap(self, port, kbit):
        """Caps traffic sent from `port` (a proxy's listening port) to kbit/s; 0 lifts it."""
        if not self.ok:
            return
        cid = 100 + len(self.ports) if port not in self.ports else self.ports[port]
        if port not in self.ports:
            self.ports[port] = cid
            subprocess.run(["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", f"1:{cid}", "htb",
                            "rate", "20gbit"], check=True, capture_output=True)
            subprocess.run(["tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                            "match", "ip", "sport", str(port), "0xffff", "flowid", f"1:{cid}"], check=True,
                           capture_output=True)
        rate = f"{kbit}kbit" if kbit else "20gbit"
        subprocess.run(["tc", "class", "change", "dev", "lo", "parent", "1:", "classid", f"1:{cid}", "htb",
                        "rate", rate, "burst", "32k"], check=True, capture_output=True)
        self.changes += 1


# --------------------------------------------------------------------------
class Chaos:
    PATHS = ["rtsp-tcp", "rtsp-udp", "hls", "mp4", "snapshot", "mjpeg"]

    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.work = Path(tempfile.mkdtemp(prefix="camvault-chaos-"))
        self.events = {}
        self.viewers = {}  # vid -> dict(spec, cred, camera, revoked_at, live)
        self.cameras = {}  # id -> dict(home, name, kind, group, ...)
        self.homes = []
        self.crashes = 0
        self.problems = []
        self.nvid = 0
        self.ncam = 0
        self.nuser = 0

    def count(self, what, n=1):
        self.events[what] = self.events.get(what, 0) + n

    # -- setup --------------------------------------------------------------
    def setup(self):
        a = self.a
        self.shaper = Shaper()
        if os.environ.get("CAMVAULT_CHAOS_NETNS") == "1":
            self.shaper.setup()
        # The smallest queues camvault accepts: slow viewers overflow them (queue
        # pressure) and fast starts come from a small prebuffer (cache pressure).
        cfg = {"bind": "127.0.0.1", "log_level": "info", "viewer_queue_kib": a.queue_kib, "viewer_queue_ms": 500,
               "prebuffer_kib": a.prebuffer_kib, "viewer_stall_ms": 2000, "http_timeout": 10, "session_timeout": 30,
               "throttle_free_failures": 1000, "throttle_lockout_ms": 10, "throttle_max_lockout_s": 1,
               "max_connections": 4096}
        self.cv = Camvault(a.build, self.work / "var", cfg)
        self.cv.start()
        log(f"camvault on rtsp {self.cv.rtsp_port}, http {self.cv.http_port}; work dir {self.work}")
        self.cv.cli("user", "add", "admin", "--password-stdin", "--admin", stdin="pw-" + os.urandom(8).hex() + "\n")
        self.net = FaultNet(seed=a.seed).start()
        # Proxies. Cameras: half push through cam_proxy; pull cameras are fetched through pull_proxy.
        self.cam_proxy = self.net.tcp(("127.0.0.1", self.cv.rtsp_port))
        self.v_rtsp = self.net.tcp(("127.0.0.1", self.cv.rtsp_port), max_buffer=256 << 10)
        self.v_http = self.net.tcp(("127.0.0.1", self.cv.http_port), max_buffer=256 << 10)
        self.v_capped = self.net.tcp(("127.0.0.1", self.cv.http_port), max_buffer=128 << 10)  # tc htb caps its port
        self.v_capped_rtsp = self.net.tcp(("127.0.0.1", self.cv.rtsp_port), max_buffer=128 << 10)
        self.fleet = Fleet(a.build, self.work)
        self.serve = self.fleet.supports_serve() and not a.no_pull
        if not self.serve:
            log("camsim has no --listen: pull cameras left out")
        self.workers = Workers(a.workers, a.seed)
        for h in range(a.homes):
            self.add_home(h)
        self.control_viewer()
        log(f"{len(self.homes)} homes, {len(self.cameras)} cameras, {len(self.viewers)} viewers "
            f"({self.path_mix()})")

    def path_mix(self):
        mix = {}
        for v in self.viewers.values():
            mix[v["spec"]["kind"]] = mix.get(v["spec"]["kind"], 0) + 1
        return ", ".join(f"{k} {n}" for k, n in sorted(mix.items()))

    def new_user(self, prefix):
        self.nuser += 1
        login = f"{prefix}{self.nuser}"
        self.cv.cli("user", "add", login, "--password-stdin", stdin="pw-" + os.urandom(8).hex() + "\n")
        return login

    def add_home(self, h):
        owner = self.new_user("owner")
        name = f"home{h}"
        self.cv.cli("home", "add", name, "--owner", owner)
        home = {"name": name, "owner": owner, "cams": [], "group": f"push{h}", "pull_group": f"pull{h}"}
        self.homes.append(home)
        push_args = ["--server", f"rtsp://127.0.0.1:{self.cam_proxy.port}", "--fps", str(self.a.fps)]
        udp_args = []
        pull = []
        for c in range(self.a.cameras):
            kind = ["push-tcp", "push-udp", "pull"][c % 3]
            if kind == "pull" and not self.serve:
                kind = "push-tcp"
            cam = self.create_camera(home, kind)
            if kind == "push-tcp":
                push_args += ["--camera", cam["arg"]]
            elif kind == "push-udp":
                udp_args += ["--camera", cam["arg"]]
            else:
                pull.append(cam)
        self.fleet.start(home["group"], push_args)
        if udp_args:
            self.fleet.start(home["group"] + "u", ["--server", f"rtsp://127.0.0.1:{self.cv.rtsp_port}",
                                                   "--transport", "udp", "--fps", str(self.a.fps)] + udp_args)
        if pull:
            self.start_pull_server(home, pull)
        for cam in home["cams"]:
            self.add_viewers(cam)

    def start_pull_server(self, home, cams):
        args = ["--listen", "127.0.0.1:0", "--fps", str(self.a.fps)]
        for cam in cams:
            args += ["--serve", cam["serve_arg"]]
        _, out = self.fleet.start(home["pull_group"], args)
        m = wait_for(lambda: next((re.search(r"listening on 127\.0\.0\.1:(\d+)", x) for x in out
                                   if "listening on" in x), None), 30, "camsim pull server")
        port = int(m.group(1))
        home["pull_proxy"].target = ("127.0.0.1", port)
        # A restarted pull server must come back where camvault (through the proxy) looks for it.
        p, args, out = self.fleet.procs[home["pull_group"]]
        args[args.index("127.0.0.1:0")] = f"127.0.0.1:{port}"

    def create_camera(self, home, kind):
        self.ncam += 1
        name = f"cam{self.ncam}"
        args = ["camera", "add", "--name", name, "--home", home["name"]]
        if kind == "pull":
            if "pull_proxy" not in home:
                home["pull_proxy"] = self.net.tcp(("127.0.0.1", 9))  # target set when the server listens
            args += ["--pull", f"rtsp://127.0.0.1:{home['pull_proxy'].port}/{name}", "--transport", "tcp"]
        info = self.cv.cli(*args)
        cid = info["id"]
        clip = self.work / f"{cid}.h264"
        clips.make_clip(cid, clip, size=(320, 240), fps=self.a.fps, seconds=2, gop=self.a.fps)
        alt = self.work / f"{cid}-alt.h264"
        clips.make_clip(cid, alt, size=(240, 176), fps=self.a.fps, seconds=2, gop=self.a.fps)
        cam = {"id": cid, "name": name, "home": home, "kind": kind, "clip": str(clip), "alt": str(alt),
               "deleted": False, "viewers": []}
        if kind == "pull":
            cam["serve_arg"] = f"{cid}:{name}:{clip}"
            cam["group"] = home["pull_group"]
        else:
            secret = re.match(r"rtsp://camera:([^@]+)@", info["ingest_url"]).group(1)
            cam["arg"] = f"{cid}:{secret}:{clip}"
            cam["group"] = home["group"] + ("u" if kind == "push-udp" else "")
        self.cameras[cid] = cam
        home["cams"].append(cam)
        return cam

    def credential(self, cam, style):
        """(token, revoke description) for one viewer of cam."""
        home = cam["home"]
        if style == "admin":
            tok = self.cv.cli("token", "issue", "--camera", cam["id"], "--ttl", "24h", "--scope", "live,snapshot")["token"]
            return tok, {"how": "token", "token": tok}
        if style == "member":
            login = self.new_user("member")
            self.cv.cli("home", "member", "add", home["name"], login, "--role", "viewer")
            tok = self.cv.cli("token", "issue", "--camera", cam["id"], "--for", login, "--ttl", "24h",
                              "--scope", "live,snapshot")["token"]
            return tok, {"how": self.rng.choice(["member", "disable"]), "login": login}
        login = self.new_user("guest")
        g = self.cv.cli("grant", "add", "--camera", cam["id"], "--user", login, "--scope", "live,snapshot",
                        "--expires", "1d")
        tok = self.cv.cli("token", "issue", "--camera", cam["id"], "--for", login, "--ttl", "24h",
                          "--scope", "live,snapshot")["token"]
        return tok, {"how": "grant", "grant": g["id"], "login": login}

    def add_viewers(self, cam, n=None):
        n = n if n is not None else self.a.viewers
        for _ in range(n):
            kind = self.next_path()
            style = self.rng.choice(["admin", "admin", "member", "guest"])
            self.add_viewer(cam, kind, style)

    def next_path(self):
        # Decoded paths cost an ffmpeg decode per picture: keep them a minority.
        weights = {"rtsp-tcp": 4, "rtsp-udp": 3, "hls": 2, "mp4": 3, "snapshot": 1, "mjpeg": 1}
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def add_viewer(self, cam, kind, style, expect=None, control=False):
        self.nvid += 1
        vid = f"v{self.nvid}-{kind}"
        tok, cred = self.credential(cam, style)
        # MJPEG pictures carry no capture time, so their lateness is judged by
        # arrival: they are watched directly, where arrival is sending time.
        route = "direct" if kind == "mjpeg" else self.rng.choice(["direct", "proxy", "proxy", "capped"])
        rtsp_port, http_port = self.cv.rtsp_port, self.cv.http_port
        if route == "proxy":
            rtsp_port, http_port = self.v_rtsp.port, self.v_http.port
        elif route == "capped":
            rtsp_port, http_port = self.v_capped_rtsp.port, self.v_capped.port
        spec = {"id": vid, "kind": kind, "camera": cam["id"], "expect": expect or cam["id"], "control": control,
                "token": tok, "port": rtsp_port, "http_port": http_port, "udp_proxy": self.rng.random() < 0.7,
                "seed": self.rng.randrange(1 << 30), "interval": 1.0, "fps": 5}
        self.viewers[vid] = {"spec": spec, "cred": cred, "camera": cam["id"], "revoked_at": None,
                             "control": control, "route": route, "style": style}
        cam["viewers"].append(vid)
        self.workers.start_viewer(spec)
        return vid

    def control_viewer(self):
        """Control viewers prove the verifier can see what it must count.
        One per delivery path watches camera A of home 0 but 'expects' camera
        B of home 1: every frame it gets must be flagged as foreign. One more
        is told it was revoked (camvault is not told): its frames must be
        flagged as late. They are counted apart; a run where any of them is
        not flagged fails."""
        a = self.homes[0]["cams"][0]
        b = self.homes[1 % len(self.homes)]["cams"][-1]
        self.control_vids = [self.add_viewer(a, kind, "admin", expect=b["id"], control="foreign")
                             for kind in self.PATHS]
        self.late_control = self.add_viewer(a, "rtsp-tcp", "admin", control="late")
        self.control_vids.append(self.late_control)
        self.protected = {a["id"], b["id"]}

    # -- events ---------------------------------------------------------------
    def live_viewers(self):
        return [v for v, d in self.viewers.items() if d["revoked_at"] is None and not d["control"]]

    def revoke(self, vid, why):
        d = self.viewers[vid]
        cred = d["cred"]
        targets = [vid]
        if cred["how"] == "token":
            self.cv.cli("token", "revoke", "--token", cred["token"])
        elif cred["how"] == "grant":
            self.cv.cli("grant", "remove", cred["grant"])
        elif cred["how"] == "member":
            self.cv.cli("home", "member", "remove", self.cameras[d["camera"]]["home"]["name"], cred["login"])
        elif cred["how"] == "disable":
            self.cv.cli("user", "disable", cred["login"])
        t = time.time()
        for v in targets:
            self.mark_revoked(v, t)
        self.count(f"revoke:{cred['how']}")

    def mark_revoked(self, vid, t):
        if self.viewers[vid]["revoked_at"] is None:
            self.viewers[vid]["revoked_at"] = t
            self.workers.revoke(vid, t)

    def ev_revoke(self):
        live = [v for v in self.live_viewers() if not self.cameras[self.viewers[v]["camera"]]["deleted"]]
        if len(live) > self.a.min_live:
            vid = self.rng.choice(live)
            self.revoke(vid, "chaos")
            # the camera keeps being watched: a fresh viewer replaces the revoked one
            self.add_viewer(self.cameras[self.viewers[vid]["camera"]], self.next_path(), "admin")

    def ev_delete_camera(self):
        cams = [c for c in self.cameras.values() if not c["deleted"] and c["kind"] != "pull"]
        cams = [c for c in cams if c["id"] not in self.protected]
        if len(cams) < 2:
            return
        cam = self.rng.choice(cams)
        self.cv.cli("camera", "remove", cam["id"], "--home", cam["home"]["name"])
        t = time.time()
        cam["deleted"] = True
        for vid in cam["viewers"]:
            self.mark_revoked(vid, t)
        self.count("camera:delete")
        # A new camera joins the same home, pushed by its own camsim; the old
        # camsim keeps knocking with the deleted camera's secret.
        home = cam["home"]
        new = self.create_camera(home, "push-tcp")
        self.fleet.start(f"new-{new['id'][:8]}", ["--server", f"rtsp://127.0.0.1:{self.cam_proxy.port}",
                                                  "--fps", str(self.a.fps), "--camera", new["arg"]])
        new["group"] = f"new-{new['id'][:8]}"
        self.add_viewers(new)
        self.count("camera:create")

    def ev_restart_camera_group(self):
        name = self.rng.choice(list(self.fleet.procs))
        self.fleet.restart(name)
        self.count("camera:restart")

    def ev_camera_misbehave(self):
        cam = self.rng.choice([c for c in self.cameras.values() if not c["deleted"]])
        what = self.rng.choice(["garbage", "stall", "resize", "drop"])
        if what == "garbage":
            self.fleet.send(cam["group"], f"garbage {cam['id']}")
        elif what == "stall":
            self.fleet.send(cam["group"], f"stall {cam['id']} {self.rng.choice([1, 2, 4])}")
        elif what == "drop":
            self.fleet.send(cam["group"], f"drop {cam['id']}")
        else:
            cam["cur_alt"] = not cam.get("cur_alt")
            self.fleet.send(cam["group"], f"resize {cam['id']} {cam['alt'] if cam['cur_alt'] else cam['clip']}")
        self.count(f"camera:{what}")

    def ev_fleet_drop(self):
        """Every camera drops and comes back at the same moment."""
        self.fleet.send_all("drop all")
        self.count("fleet:drop-all")

    def ev_storm(self):
        vids = list(self.viewers)
        self.workers.kick(vids)
        self.count("viewers:storm")
        self.count("viewers:storm-reconnects", len(vids))

    def ev_new_viewers(self):
        cams = [c for c in self.cameras.values() if not c["deleted"]]
        for _ in range(3):
            self.add_viewer(self.rng.choice(cams), self.next_path(), self.rng.choice(["admin", "guest"]))
        self.count("viewers:new", 3)

    def ev_tcp_faults(self):
        p = self.rng.choice([self.cam_proxy, self.v_rtsp, self.v_http] +
                            [h["pull_proxy"] for h in self.homes if "pull_proxy" in h])
        what = self.rng.choice(["delay", "stall", "cut", "half_close", "reset", "bandwidth", "clear"])
        if what == "delay":
            p.delay_ms, p.jitter_ms = self.rng.choice([(20, 10), (80, 40), (200, 150)])
        elif what == "stall":
            p.stall(self.rng.choice([0.5, 1.5, 3.0]))
        elif what == "cut":
            p.cut_all()
        elif what == "half_close":
            p.half_close_all()
        elif what == "reset":
            p.reset_random(0.3)
        elif what == "bandwidth":
            p.bandwidth_kbps = self.rng.choice([500, 2000, 8000])
        else:
            p.delay_ms = p.jitter_ms = p.bandwidth_kbps = 0
        self.count(f"net:tcp-{what}")

    def ev_udp_faults(self):
        f = self.rng.choice([{"loss": 0.02}, {"loss": 0.1, "reorder": 0.05}, {"duplicate": 0.05, "reorder": 0.1},
                             {"delay_ms": 50, "jitter_ms": 40, "loss": 0.01}, {"loss": 0.3},
                             {"loss": 0.0, "duplicate": 0.0, "reorder": 0.0, "delay_ms": 0, "jitter_ms": 0}])
        self.workers.set_udp(f)
        self.count("net:udp-" + ("clear" if not any(f.values()) else "+".join(sorted(k for k, v in f.items() if v))))

    def ev_shape(self):
        if not self.shaper.ok:
            return
        kbit = self.rng.choice([0, 300, 1000, 4000])
        for p in (self.v_capped, self.v_capped_rtsp):
            self.shaper.cap(p.port, kbit)
        self.count("net:tc-htb-cap" if kbit else "net:tc-htb-lift")

    def heal(self):
        for p in self.net.proxies:
            if hasattr(p, "stall"):
                p.stall(0)
                p.delay_ms = p.jitter_ms = p.bandwidth_kbps = 0
        self.workers.set_udp({"loss": 0.0, "duplicate": 0.0, "reorder": 0.0, "delay_ms": 0, "jitter_ms": 0})
        for p in (self.v_capped, self.v_capped_rtsp):
            if self.shaper.ok:
                self.shaper.cap(p.port, 0)
        for name in self.fleet.dead():
            self.fleet.restart(name)

    # -- the run ------------------------------------------------------------
    def check_alive(self):
        if not self.cv.alive():
            self.crashes += 1
            raise RuntimeError(f"camvault died (exit {self.cv.proc.returncode})")
        if self.workers.dead():
            raise RuntimeError(f"viewer worker died: {self.workers.dead()}")

    def status(self, t0):
        tal = self.workers.snapshot()
        frames = sum(v["ok"] for v in tal.values())
        foreign = sum(v["foreign"] for k, v in tal.items() if not self.viewers[k]["control"])
        late = sum(v["late"] for k, v in tal.items() if not self.viewers[k]["control"])
        log(f"t+{time.time() - t0:5.0f}s frames={frames} foreign={foreign} late={late} "
            f"viewers={len(self.viewers)} cameras={sum(not c['deleted'] for c in self.cameras.values())} "
            f"rss={self.cv.peak_rss_kb // 1024}MB")

    def run(self):
        a = self.a
        self.setup()
        log("waiting for every viewer to see its camera")
        t_warm = time.time()
        try:
            wait_for(lambda: all(self.workers.snapshot().get(v, {}).get("ok", 0) > 0 or self.viewers[v]["control"]
                                 for v in self.viewers), 120, "every viewer's first frame", 0.5)
        except TimeoutError:
            tal = self.workers.snapshot()
            missing = [(v, tal.get(v, {}).get("last_error")) for v in self.viewers if not tal.get(v, {}).get("ok")]
            log(f"warm-up: viewers without a frame after 120 s: {missing[:8]} (continuing; recovery is judged later)")
        log(f"warm-up took {time.time() - t_warm:.1f}s")
        t0 = time.time()
        chaos_end = t0 + max(30.0, a.minutes * 60 - HEAL_WINDOW_S / 2)
        events = [(self.ev_tcp_faults, 6), (self.ev_udp_faults, 3), (self.ev_shape, 2), (self.ev_revoke, 3),
                  (self.ev_camera_misbehave, 4), (self.ev_restart_camera_group, 1), (self.ev_delete_camera, 1),
                  (self.ev_storm, 1), (self.ev_new_viewers, 1), (self.ev_fleet_drop, 1)]
        fns, weights = zip(*events)
        self.workers.revoke(self.late_control, time.time())  # only the verifier is told
        # Every kind happens at least once, early, then at random.
        queue = list(fns)
        self.rng.shuffle(queue)
        last_status = 0
        while time.time() < chaos_end:
            self.check_alive()
            fn = queue.pop() if queue else self.rng.choices(fns, weights)[0]
            try:
                fn()
            except RuntimeError as e:
                log(f"event {fn.__name__}: {e}")
                self.count("event-errors")
            self.cv.sample_rss()
            if time.time() - last_status > 30:
                self.status(t0)
                last_status = time.time()
            time.sleep(self.rng.uniform(0.5, a.event_gap))
        log("healing the network; every authorised viewer must get its camera back")
        self.heal()
        t_heal = self.t_heal = time.time()
        self.check_alive()

        def recovered():
            tal = self.workers.snapshot()
            return [v for v in self.live_viewers()
                    if not self.cameras[self.viewers[v]["camera"]]["deleted"]
                    and tal.get(v, {}).get("last_ok", 0) <= t_heal]
        try:
            wait_for(lambda: not recovered(), HEAL_WINDOW_S, "recovery", 0.5)
        except TimeoutError:
            pass
        unrecovered = recovered()
        t_rec = time.time() - t_heal
        # A few seconds of steady state after recovery: late frames still count.
        time.sleep(min(5, max(0, chaos_end + HEAL_WINDOW_S - time.time())))
        self.check_alive()
        self.cv.sample_rss()
        return unrecovered, t_rec

    def finish(self, unrecovered, t_rec):
        self.workers.quit()
        tal = self.workers.snapshot()
        self.fleet.stop()
        problems = self.cv.stop()
        problems += [f"camsim sanitizer report in {r}" for r in self.fleet.sanitizer_reports()]
        problems += [f"camsim {n} exited by itself with {rc}" for n, rc in self.fleet.died]
        self.crashes += len(problems)
        self.net.stop()
        for p in problems:
            log(f"PROBLEM: {p}")
        frames = sum(v["ok"] for k, v in tal.items() if not self.viewers[k]["control"])
        foreign = sum(v["foreign"] for k, v in tal.items() if not self.viewers[k]["control"])
        late = sum(v["late"] for k, v in tal.items() if not self.viewers[k]["control"])
        unread = sum(v["unread"] for v in tal.values())
        unflagged = []
        for vid in self.control_vids:
            t = tal.get(vid, {})
            if self.viewers[vid]["control"] == "foreign":
                flagged = t.get("foreign", 0) > 0 and t.get("ok", 0) == 0
                what = f"{t.get('foreign', 0)} foreign"
            else:
                flagged = t.get("late", 0) > 0
                what = f"{t.get('late', 0)} late"
            log(f"control {vid} ({self.viewers[vid]['control']}): {what} -> {'flagged' if flagged else 'NOT FLAGGED'}")
            if not flagged:
                unflagged.append(vid)
        control = 0 if unflagged else 1
        by_path = {}
        for k, v in tal.items():
            kind = self.viewers[k]["spec"]["kind"]
            b = by_path.setdefault(kind, [0, 0, 0, 0, 0])
            b[0] += 1
            b[1] += v["ok"] if not self.viewers[k]["control"] else 0
            b[2] += v["unread"]
            b[3] += v["refused"]
            b[4] += v["sessions"]
        log("per path (viewers, frames verified, unreadable, refused connects, sessions): " +
            "; ".join(f"{k} {'/'.join(map(str, b))}" for k, b in sorted(by_path.items())))
        log("events: " + ", ".join(f"{k} {n}" for k, n in sorted(self.events.items())))
        udp = {}
        for st in self.workers.udp.values():
            for k, n in st.items():
                udp[k] = udp.get(k, 0) + n
        tcp = {}
        for p in self.net.proxies:
            if hasattr(p, "stall"):
                for k, n in p.stats()["faults"].items():
                    tcp[k] = tcp.get(k, 0) + n
        log(f"network: udp datagrams {udp}; tcp proxy actions {tcp}; tc changes {self.shaper.changes}")
        kinds = {}
        for c in self.cameras.values():
            kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
        log(f"cameras: {len(self.cameras)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}; "
            f"{sum(c['deleted'] for c in self.cameras.values())} deleted), "
            f"camsim restarts {self.fleet.restarts}; viewers: {len(self.viewers)} "
            f"({sum(d['revoked_at'] is not None for d in self.viewers.values())} revoked); "
            f"unreadable frames {unread}; recovery after healing {t_rec:.1f}s")
        for k, v in tal.items():
            if v["foreign"] and not self.viewers[k]["control"]:
                log(f"FOREIGN: viewer {k} of {self.viewers[k]['camera']} got frames of {v['foreign_ids']}")
            if v["late"] and not self.viewers[k]["control"]:
                log(f"LATE: viewer {k} ({self.viewers[k]['cred']['how']}): {v['late']} frames, "
                    f"examples (s after revocation, camera) {v['late_examples']}")
        for v in unrecovered:
            t = tal.get(v, {})
            cam = self.cameras[self.viewers[v]["camera"]]
            log(f"UNRECOVERED: {v} via {self.viewers[v]['route']}, camera {cam['id']} ({cam['kind']}, camsim "
                f"{cam['group']}), last frame {t.get('last_ok', 0) - self.t_heal:.1f}s after healing, "
                f"sessions {t.get('sessions')}, last error: {t.get('last_error')}")
        for vid in unflagged:
            log(f"CONTROL NOT FLAGGED: {vid}: {tal.get(vid)}")
        line = (f"chaos: frames={frames} foreign={foreign} late={late} unrecovered={len(unrecovered)} "
                f"crashes={self.crashes} control={control} peak_rss_mb={(self.cv.peak_rss_kb + 1023) // 1024}")
        print(line, flush=True)
        ok = foreign == 0 and late == 0 and not unrecovered and self.crashes == 0 and control == 1
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(prog="tests/chaos/run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=None, help="chaos duration (soak mode); default: CI mode")
    ap.add_argument("--build", default=os.environ.get("CAMVAULT_BUILD", "build"))
    ap.add_argument("--homes", type=int)
    ap.add_argument("--cameras", type=int, help="cameras per home")
    ap.add_argument("--viewers", type=int, help="viewers per camera")
    ap.add_argument("--workers", type=int, help="viewer worker processes")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--event-gap", type=float, default=None, help="max seconds between events")
    ap.add_argument("--queue-kib", type=int, default=64, help="viewer_queue_kib (64 is camvault's minimum)")
    ap.add_argument("--prebuffer-kib", type=int, default=64, help="prebuffer_kib (64 is camvault's minimum)")
    ap.add_argument("--min-live", type=int, default=4)
    ap.add_argument("--no-pull", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    soak = a.minutes is not None
    if a.minutes is None:
        a.minutes = 3
    defaults = dict(homes=8 if soak else 4, cameras=4 if soak else 3, viewers=4 if soak else 2,
                    workers=3 if soak else 2, event_gap=6.0 if soak else 3.0)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.seed is None:
        a.seed = int(time.time()) % 100000
    log(f"chaos {'soak' if soak else 'CI'} mode: {a.minutes} min, seed {a.seed}, build {a.build}, "
        f"{a.homes} homes x {a.cameras} cameras x {a.viewers} viewers, netns "
        f"{'yes' if os.environ.get('CAMVAULT_CHAOS_NETNS') == '1' else 'no'}")
    c = Chaos(a)
    rc = 1
    try:
        unrecovered, t_rec = c.run()
        rc = c.finish(unrecovered, t_rec)
    except Exception as e:  # noqa: BLE001 - report, then the summary line
        log(f"run aborted: {type(e).__name__}: {e}")
        try:
            c.workers.quit()
        except Exception:  # noqa: BLE001
            pass
        try:
            c.fleet.stop()
            for p in c.cv.stop():
                log(f"PROBLEM: {p}")
        except Exception:  # noqa: BLE001
            pass
        tal = c.workers.snapshot() if hasattr(c, "workers") else {}
        print(f"chaos: frames={sum(v['ok'] for v in tal.values())} foreign=? late=? unrecovered=? "
              f"crashes={max(1, c.crashes)} control=0 peak_rss_mb={c.cv.peak_rss_kb // 1024 if hasattr(c, 'cv') else 0}",
              flush=True)
        rc = 1
    finally:
        if not a.keep and rc == 0:
            shutil.rmtree(c.work, ignore_errors=True)
        else:
            log(f"work directory kept: {c.work}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
