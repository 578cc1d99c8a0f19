"""Integration fixtures: the real camvault binary, real ffmpeg cameras and
real clients, all on 127.0.0.1 with ephemeral ports. Every wait is bounded."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CAMVAULT_BUILD", ROOT / "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
CAMVAULT = BUILD / "src" / "cli" / "camvault"
RTSP_CAMERA = BUILD / "tests" / "fixtures" / "rtsp-camera"
SANITIZED = os.environ.get("CAMVAULT_SANITIZED") == "1"
# Sanitized binaries run several times slower; every deadline stretches.
SLOW = 3.0 if SANITIZED else 1.0
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def wait_for(pred, timeout, what, interval=0.05):
    """Polls pred until it returns a truthy value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * SLOW:.0f}s waiting for {what}")
        time.sleep(interval)


class Server:
    """A camvault serve process with its log captured."""

    def __init__(self, data_dir, config=None, extra=()):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = None
        if config:
            self.config = self.data_dir / "camvault.conf"
            self.config.write_text("[server]\n" + "".join(f"{k} = {v}\n" for k, v in config.items()))
        self.extra = list(extra)
        self.lines = []
        self.lock = threading.Lock()
        self.proc = None
        self.port = None
        self.tokens = {}
        self.homes = {}
        self.users = {}

    def args(self):
        a = [str(CAMVAULT), "serve", "--data", str(self.data_dir), "--rtsp-port", "0", "--http-port", "0", "--https-port", "0", "--rtsps-port", "0",
             "--log-level", "debug"]
        if self.config:
            a += ["--config", str(self.config)]
        return a + self.extra

    def start(self):
        env = dict(os.environ)
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, text=True, errors="replace")
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()
        m = wait_for(lambda: self.find(r"rtsp listening on [\d.:a-f]+:(\d+)"), 20, "camvault to listen")
        self.port = int(m.group(1))
        wait_for(lambda: self.find(r"\bready\b"), 10, "camvault ready")
        return self

    def _pump(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def log(self):
        with self.lock:
            return "\n".join(self.lines)

    def find(self, pattern):
        with self.lock:
            for line in self.lines:
                m = re.search(pattern, line)
                if m:
                    return m
        return None

    def count(self, pattern):
        with self.lock:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def http_port(self):
        m = wait_for(lambda: self.find(r"\bhttp listening on [\d.:a-f]+:(\d+)"), 10, "http to listen")
        return int(m.group(1))

    def https_port(self):
        m = wait_for(lambda: self.find(r"https listening on [\d.:a-f]+:(\d+)"), 10, "https to listen")
        return int(m.group(1))

    def http_url(self, camera_id, path, token=None, **params):
        """http://127.0.0.1:PORT/cam/ID/path?token=... (a fresh live+snapshot token unless given)."""
        if token is None:
            token = self.token(camera_id, scope="live,snapshot")
        q = "&".join([f"token={token}"] + [f"{k}={v}" for k, v in params.items()])
        return f"http://127.0.0.1:{self.http_port()}/cam/{camera_id}/{path}?{q}"

    def bare_url(self, camera_id, suffix=""):
        """The camera's RTSP URL without any credential."""
        return f"rtsp://127.0.0.1:{self.port}/cam/{camera_id}{suffix}"

    def url(self, camera_id, suffix="", token=None):
        """A viewing URL carrying a capability token (issued once per camera)."""
        if token is None:
            token = self.tokens.get(camera_id)
            if token is None:
                token = self.tokens[camera_id] = self.token(camera_id)
        return f"{self.bare_url(camera_id, suffix)}?token={token}"

    def token(self, camera_id, ttl="30m", user=None, scope=None, check=True):
        args = ["token", "issue", "--camera", camera_id, "--ttl", ttl]
        if user:
            args += ["--for", user]
        if scope:
            args += ["--scope", scope]
        r = self.cli(*args, check=check)
        return json.loads(r.stdout)["token"] if r.returncode == 0 else None

    def ensure_home(self, name="test", owner="owner"):
        """A home (and its owning user) for cameras added by tests."""
        if name in self.homes:
            return self.homes[name]
        if owner not in self.users:
            self.add_user(owner)
        self.cli("home", "add", name, "--owner", owner)
        self.homes[name] = name
        return name

    def add_user(self, login, password=None, admin=False):
        password = password or ("pw-" + os.urandom(9).hex())
        args = ["user", "add", login, "--password-stdin"] + (["--admin"] if admin else [])
        cmd = [str(CAMVAULT), *args, "--data", str(self.data_dir), "--json"]
        r = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 0, f"{cmd} failed: {r.stderr}"
        self.users[login] = password
        return password

    def cli(self, *args, check=True):
        cmd = [str(CAMVAULT), *args, "--data", str(self.data_dir), "--json"]
        if self.port:
            cmd += ["--rtsp-port", str(self.port)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30 * SLOW)
        if check:
            assert r.returncode == 0, f"{cmd} failed: {r.stderr}"
        return r

    def add_camera(self, name, pull=None, transport=None, home=None):
        home = home or self.ensure_home()
        args = ["camera", "add", "--name", name, "--home", home]
        if pull:
            args += ["--pull", pull]
        if transport:
            args += ["--transport", transport]
        return json.loads(self.cli(*args).stdout)

    def stop(self):
        """SIGTERM, then checks the process exited cleanly with no sanitizer report."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("camvault did not stop within its deadline after SIGTERM\n" + self.log()[-4000:])
        self.pump.join(timeout=10 * SLOW)  # the log is complete only at EOF
        log = self.log()
        for mark in SANITIZER_MARKS:
            assert mark not in log, f"sanitizer report in camvault log:\n{log[-6000:]}"
        assert self.proc.returncode == 0, f"camvault exited with {self.proc.returncode}\n{log[-4000:]}"


@pytest.fixture
def server(tmp_path):
    """A running camvault on ephemeral ports; stopped and checked afterwards."""
    servers = []

    def make(config=None, extra=()):
        s = Server(tmp_path / f"var{len(servers)}", config=config, extra=extra).start()
        servers.append(s)
        return s

    yield make
    errors = []
    for s in servers:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


CLIP_PROFILES = {
    # name: (video encoder args, audio encoder args or None, container ext)
    "h264_aac": (["-c:v", "libx264", "-profile:v", "baseline"], ["-c:a", "aac", "-b:a", "64k"], "mp4"),
    "h265_opus": (["-c:v", "libx265"], ["-c:a", "libopus", "-b:a", "48k", "-ar", "48000"], "mkv"),
    "h264_pcmu": (["-c:v", "libx264", "-profile:v", "baseline"], ["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"], "mkv"),
    "h264_pcma": (["-c:v", "libx264", "-profile:v", "baseline"], ["-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"], "mkv"),
    "h265_aac": (["-c:v", "libx265"], ["-c:a", "aac", "-b:a", "64k"], "mkv"),
    "h264_only": (["-c:v", "libx264", "-profile:v", "baseline"], None, "mp4"),
}

_clip_lock = threading.Lock()


def make_clip(profile, seconds=6, size="320x240", fps=25, gop=50):
    """Encodes a test clip once per run (cached under tests/integration/.cache)."""
    venc, aenc, ext = CLIP_PROFILES[profile]
    cache = ROOT / "tests" / "integration" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{profile}_{seconds}s_{size}_{fps}_{gop}.{ext}"
    with _clip_lock:
        if out.exists():
            return out
        tmp = out.with_suffix(".tmp." + ext)
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
        if aenc:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        cmd += venc + ["-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", "0"]
        if "libx265" in venc:
            cmd += ["-x265-params", f"log-level=error:keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"]
        if aenc:
            cmd += aenc
        cmd += ["-t", str(seconds), str(tmp)]
        subprocess.run(cmd, check=True, timeout=300)
        tmp.rename(out)
        return out


class Proc:
    """A child process (camera or viewer) with captured output and bounded stop."""

    def __init__(self, args, **kw):
        self.args = args
        kw.setdefault("stdin", subprocess.DEVNULL)
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace", **kw)
        self.out = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        for line in self.p.stdout:
            self.out.append(line.rstrip("\n"))

    def text(self):
        return "\n".join(self.out)

    def alive(self):
        return self.p.poll() is None

    def wait(self, timeout):
        """Waits for exit and for the last of its output to be read."""
        rc = self.p.wait(timeout=timeout * SLOW)
        self.pump.join(timeout=10 * SLOW)
        return rc

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def procs():
    """Tracks child processes and stops them all at teardown."""
    started = []

    def spawn(args, **kw):
        p = Proc(args, **kw)
        started.append(p)
        return p

    yield spawn
    for p in reversed(started):
        p.stop()


def push_camera(spawn, clip, url, transport="tcp", loop=True, realtime=True):
    """Starts ffmpeg pushing clip to url by RTSP ANNOUNCE/RECORD."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin"]
    if realtime:
        args += ["-re"]
    if loop:
        args += ["-stream_loop", "-1"]
    args += ["-i", str(clip), "-c", "copy", "-f", "rtsp", "-rtsp_transport", transport, url]
    return spawn(args)


def wait_live(server, camera_id, timeout=20):
    wait_for(lambda: server.find(rf"camera {camera_id} is live"), timeout, f"camera {camera_id} to go live")


def ffprobe_streams(url, transport="tcp", timeout=30):
    r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_streams", "-of", "json", url],
                       capture_output=True, text=True, timeout=timeout * SLOW)
    assert r.returncode == 0, f"ffprobe failed: {r.stderr}"
    return json.loads(r.stdout)["streams"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have(tool):
    return shutil.which(tool) is not None
