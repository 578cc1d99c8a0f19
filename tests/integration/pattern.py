"""A picture code that survives H.264/H.265, JPEG and scaling, and the cameras
and viewers built on it.

Each frame is a grid of COLS x ROWS big black/white cells covering the whole
picture (cells are W/COLS x H/ROWS, so the layout is proportional and any size
decodes). The outer ring of cells is a fixed alternating pattern (the finder,
also used to pick the black/white threshold); the inner cells carry 256 bits:

    camera id (16 bytes) | seq (u32 BE) | capture wall clock, us (u64 BE) | CRC-32 of those 28 bytes

XORed with a fixed mask so that no payload makes large flat areas. A misread
cell fails the CRC and decode_frame returns None.

    encode_frame(w, h, camera_id_hex, seq, wall_us) -> gray8 bytes
    decode_frame(gray, w, h) -> (camera_id_hex, seq, wall_us) or None
    PatternCamera(url, camera_id, ...)   ffmpeg camera fed with coded frames
    decode_stream(url_or_path, ...)      ffmpeg viewer: (arrival wall us, decoded) per frame
    decode_jpeg(data), decode_mjpeg(url, ...)

tests/browser/play-hls.mjs has a JavaScript port of decode_frame: keep the two
in step (COLS, ROWS, MASK, bit order)."""
import hashlib
import os
import signal
import struct
import subprocess
import threading
import time
import urllib.request
import zlib

COLS, ROWS = 22, 16
PAYLOAD_BYTES = 28  # id 16 + seq 4 + wall_us 8
CODE_BITS = (PAYLOAD_BYTES + 4) * 8  # + CRC-32 = 256
MASK = hashlib.sha256(b"camvault-pattern-v1").digest()  # 32 bytes
BLACK, WHITE = 0, 255

# Cells in reading order: the ring (finder) and the interior (code bits, then spare).
RING = [(r, c) for r in range(ROWS) for c in range(COLS) if r in (0, ROWS - 1) or c in (0, COLS - 1)]
INTERIOR = [(r, c) for r in range(1, ROWS - 1) for c in range(1, COLS - 1)]
DATA = INTERIOR[:CODE_BITS]
SPARE = INTERIOR[CODE_BITS:]
assert len(INTERIOR) >= CODE_BITS


def fixed_white(r, c):
    """The value of a finder or spare cell: a checkerboard."""
    return (r + c) % 2 == 1


FIXED = [(r, c, fixed_white(r, c)) for (r, c) in RING + SPARE]


def _code_bits(camera_id_hex, seq, wall_us):
    cam = bytes.fromhex(camera_id_hex)
    if len(cam) != 16:
        raise ValueError("camera id must be 32 hex digits (128 bits)")
    payload = cam + struct.pack(">IQ", seq & 0xFFFFFFFF, wall_us & 0xFFFFFFFFFFFFFFFF)
    code = payload + struct.pack(">I", zlib.crc32(payload))
    code = bytes(a ^ b for a, b in zip(code, MASK))
    return [(code[i >> 3] >> (7 - (i & 7))) & 1 for i in range(CODE_BITS)]


def _unpack(bits):
    code = bytearray(CODE_BITS // 8)
    for i, b in enumerate(bits):
        if b:
            code[i >> 3] |= 0x80 >> (i & 7)
    code = bytes(a ^ b for a, b in zip(code, MASK))
    payload, crc = code[:PAYLOAD_BYTES], struct.unpack(">I", code[PAYLOAD_BYTES:])[0]
    if zlib.crc32(payload) != crc:
        return None
    seq, wall_us = struct.unpack(">IQ", payload[16:])
    return payload[:16].hex(), seq, wall_us


class _Template:
    """Per-size precomputed pieces: an encoded frame is a join of row bands."""

    def __init__(self, width, height):
        self.w, self.h = width, height
        xs = [c * width // COLS for c in range(COLS + 1)]
        ys = [r * height // ROWS for r in range(ROWS + 1)]
        if min(b - a for a, b in zip(xs, xs[1:])) < 1 or min(b - a for a, b in zip(ys, ys[1:])) < 1:
            raise ValueError(f"frame {width}x{height} too small for a {COLS}x{ROWS} grid")
        self.heights = [ys[r + 1] - ys[r] for r in range(ROWS)]
        self.seg = [(bytes([BLACK]) * (xs[c + 1] - xs[c]), bytes([WHITE]) * (xs[c + 1] - xs[c])) for c in range(COLS)]
        # Bands of the top and bottom ring rows never change.
        self.fixed_band = {}
        for r in (0, ROWS - 1):
            row = b"".join(self.seg[c][fixed_white(r, c)] for c in range(COLS))
            self.fixed_band[r] = row * self.heights[r]
        # For interior rows: which code bit (or fixed value) each cell takes.
        index = {rc: i for i, rc in enumerate(DATA)}
        self.plan = {}
        for r in range(1, ROWS - 1):
            cells = []
            for c in range(COLS):
                if (r, c) in index:
                    cells.append((self.seg[c], index[(r, c)]))
                else:
                    cells.append((self.seg[c], -1 - int(fixed_white(r, c))))  # -1 black, -2 white
            self.plan[r] = cells

    def encode(self, bits):
        bands = [self.fixed_band[0]]
        for r in range(1, ROWS - 1):
            pieces = []
            for seg, i in self.plan[r]:
                if i >= 0:
                    pieces.append(seg[bits[i]])
                else:
                    pieces.append(seg[i == -2])
            bands.append(b"".join(pieces) * self.heights[r])
        bands.append(self.fixed_band[ROWS - 1])
        return b"".join(bands)


_templates = {}
_templates_lock = threading.Lock()


def _template(width, height):
    t = _templates.get((width, height))
    if t is None:
        with _templates_lock:
            t = _templates.get((width, height)) or _Template(width, height)
            _templates[(width, height)] = t
    return t


def encode_frame(width, height, camera_id_hex, seq, wall_us):
    """A gray8 plane (width*height bytes) carrying camera id, seq and capture time."""
    return _template(width, height).encode(_code_bits(camera_id_hex, seq, wall_us))


def _cell_sampler(width, height):
    """For each cell, the pixel offsets of a 3x3 grid around its centre."""
    key = ("s", width, height)
    s = _templates.get(key)
    if s is None:
        cw, ch = width / COLS, height / ROWS
        s = {}
        for r in range(ROWS):
            for c in range(COLS):
                cx, cy = (c + 0.5) * cw, (r + 0.5) * ch
                pts = []
                for dy in (-0.2, 0.0, 0.2):
                    for dx in (-0.2, 0.0, 0.2):
                        x = min(width - 1, max(0, int(cx + dx * cw)))
                        y = min(height - 1, max(0, int(cy + dy * ch)))
                        pts.append(y * width + x)
                s[(r, c)] = pts
        _templates[key] = s
    return s


def decode_frame(gray, width, height):
    """(camera_id_hex, seq, wall_us) read from a gray8 plane, or None when the
    picture carries no valid code (finder not found, too little contrast, or
    the CRC does not match)."""
    if len(gray) < width * height or width < COLS or height < ROWS:
        return None
    sampler = _cell_sampler(width, height)

    def level(rc):
        return sum(gray[p] for p in sampler[rc]) / 9.0

    blacks, whites = [], []
    for r, c, white in FIXED:
        (whites if white else blacks).append(level((r, c)))
    lo, hi = sum(blacks) / len(blacks), sum(whites) / len(whites)
    if hi - lo < 48:
        return None
    threshold = (lo + hi) / 2
    wrong = sum(1 for v in blacks if v >= threshold) + sum(1 for v in whites if v < threshold)
    if wrong > len(FIXED) // 10:
        return None
    return _unpack([1 if level(rc) >= threshold else 0 for rc in DATA])


def now_us():
    return time.time_ns() // 1000


# ---------------------------------------------------------------------------
# Cameras

class PatternCamera:
    """A camera: a thread draws coded frames in real time (capture time taken
    when each frame is drawn) and feeds them as raw gray video to an ffmpeg
    child that encodes (libx264 or libx265 (or mjpeg), optional AAC from a sine) and
    pushes to an RTSP URL (or writes whatever `output` args say).

        with PatternCamera(cam["ingest_url"], cam["id"]) as pc: ...
    or  pc = PatternCamera(...).start(); ...; pc.stop()
    """

    def __init__(self, url, camera_id, size=(320, 240), fps=25, codec="h264", audio=False,
                 transport="tcp", output=None, gop=None, seconds=None, paced=True, loglevel="warning"):
        self.url, self.camera_id = url, camera_id
        self.w, self.h = size
        self.fps = fps
        self.codec, self.audio = codec, audio
        self.transport = transport
        self.output = output
        self.gop = gop or fps * 2
        self.seconds = seconds
        self.paced = paced
        self.loglevel = loglevel
        self.seq = 0
        self.sent = []  # (seq, wall_us) of every frame written to ffmpeg
        self.late = 0  # frames drawn more than one frame period after their slot
        self.error = None
        self.proc = None
        self.stderr = []
        self._stop = threading.Event()
        self._thread = None

    def args(self):
        a = ["ffmpeg", "-hide_banner", "-loglevel", self.loglevel, "-nostats",
             "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{self.w}x{self.h}", "-r", str(self.fps),
             "-thread_queue_size", "64", "-i", "pipe:0"]
        if self.audio:
            a += ["-thread_queue_size", "64", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        a += ["-map", "0:v"] + (["-map", "1:a"] if self.audio else [])
        if self.codec == "h264":
            a += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                  "-g", str(self.gop), "-keyint_min", str(self.gop), "-sc_threshold", "0", "-bf", "0"]
        elif self.codec in ("h265", "hevc"):
            a += ["-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(self.gop), "-bf", "0",
                  "-x265-params", f"log-level=error:keyint={self.gop}:min-keyint={self.gop}:scenecut=0:bframes=0"]
        elif self.codec == "mjpeg":  # an MJPEG camera (or, with -f mpjpeg output, an MJPEG server)
            a += ["-c:v", "mjpeg", "-q:v", "5"]
        else:
            raise ValueError(f"unknown codec {self.codec}")
        a += ["-pix_fmt", "yuvj420p" if self.codec == "mjpeg" else "yuv420p"]
        if self.audio:
            a += ["-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-ac", "1"]
        if self.output is not None:
            return a + list(self.output)
        return a + ["-f", "rtsp", "-rtsp_transport", self.transport, self.url]

    def start(self):
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, bufsize=0)
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"PatternCamera-{self.camera_id[:8]}")
        self._thread.start()
        return self

    def _pump_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip("\n"))

    def _run(self):
        period = 1.0 / self.fps
        total = None if self.seconds is None else int(self.seconds * self.fps)
        t0 = time.monotonic()
        try:
            while not self._stop.is_set() and (total is None or self.seq < total):
                if self.paced:
                    slot = t0 + self.seq * period
                    delay = slot - time.monotonic()
                    if delay > 0:
                        if self._stop.wait(delay):
                            break
                    elif delay < -period:
                        self.late += 1
                        if delay < -1.0:  # far behind (stalled pipe): restart the clock, don't burst
                            t0 = time.monotonic() - self.seq * period
                wall = now_us()
                frame = encode_frame(self.w, self.h, self.camera_id, self.seq, wall)
                self.proc.stdin.write(frame)
                self.sent.append((self.seq, wall))
                self.seq += 1
        except (BrokenPipeError, ValueError, OSError) as e:
            if not self._stop.is_set():
                self.error = e
        finally:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """For a finite camera (seconds=...): waits until every frame is written and ffmpeg has exited."""
        self._thread.join(timeout)
        return self.proc.wait(timeout=timeout)

    def text(self):
        return "\n".join(self.stderr)

    def stop(self, timeout=10):
        if self.proc is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 + 2 / self.fps)
            if self._thread.is_alive():  # blocked writing: ffmpeg is not reading (e.g. -listen with no client)
                self.proc.terminate()
                self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:  # EOF on stdin lets ffmpeg finish its output (RTSP TEARDOWN)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


try:
    import pytest
except ImportError:  # usable outside pytest too
    pytest = None

if pytest is not None:
    @pytest.fixture(name="cameras")
    def cameras_fixture():
        """`cameras(url, camera_id, **kw)` starts a PatternCamera; all are stopped
        at teardown. Import it into a test module: from pattern import cameras_fixture."""
        started = []

        def start(*a, **kw):
            c = PatternCamera(*a, **kw).start()
            started.append(c)
            return c

        yield start
        for c in reversed(started):
            c.stop()


def write_clip(out_args, camera_id, seconds, size=(320, 240), fps=25, **kw):
    """Encodes an unpaced pattern clip (capture times are the drawing times)
    with PatternCamera's encoder; out_args are ffmpeg output args, e.g.
    ["-f", "mp4", "clip.mp4"]. Returns the camera (its .sent lists the frames)."""
    cam = PatternCamera(None, camera_id, size=size, fps=fps, output=out_args, seconds=seconds, paced=False, **kw)
    cam.start()
    rc = cam.wait(timeout=120 + seconds * 10)
    assert rc == 0 and cam.error is None, f"ffmpeg {out_args} failed ({rc}, {cam.error}): {cam.text()}"
    return cam


# ---------------------------------------------------------------------------
# Viewers

class Decoded(list):
    """Frames from decode_stream: (arrival_wall_us, (camera_id_hex, seq, wall_us) or None).
    .returncode and .stderr tell how the ffmpeg viewer ended."""
    returncode = None
    stderr = ""

    def codes(self):
        return [d for _, d in self if d is not None]

    def latencies_ms(self):
        return [(t - d[2]) / 1000.0 for t, d in self if d is not None]


def _input_args(url, extra):
    a = list(extra)
    if "-threads" not in a:  # frame-threaded decoding holds (threads - 1) frames: decode as they come
        a = ["-threads", "1"] + a
    if str(url).startswith(("rtsp://", "rtsps://")) and "-rtsp_transport" not in a:
        a = ["-rtsp_transport", "tcp"] + a
    return a


def decode_stream(url, seconds=None, frames=None, size=(320, 240), extra_input_args=(), timeout=None,
                  on_frame=None):
    """Plays url (RTSP, HLS, MP4 over HTTP, a file, ...) with ffmpeg, scaled to
    size as gray, and decodes each frame's code as soon as its bytes arrive.
    Stops after `seconds` of wall time from the first frame, or after `frames`
    frames, or at end of stream, or at `timeout` (default seconds + 60).

    Latency = arrival - capture time. It includes the tools: ffmpeg 5.1's CLI
    holds one frame before its output on both the camera and this viewer (so
    about two frame periods, 80 ms at 25 fps, are the measurement's own); the
    decoder runs single-threaded here so that it adds no frame delay."""
    w, h = size
    n = w * h
    if timeout is None:
        timeout = (seconds or 0) + 60
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-nostats"]
    args += _input_args(url, extra_input_args)
    args += ["-i", str(url), "-map", "0:v:0", "-an", "-fps_mode", "passthrough",
             "-vf", f"scale={w}:{h}", "-pix_fmt", "gray", "-f", "rawvideo", "-flush_packets", "1", "pipe:1"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    err = []
    pump = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    pump.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.daemon = True
    killer.start()
    out = Decoded()
    end = None
    buf = bytearray(n)
    view = memoryview(buf)
    try:
        while True:
            got = 0
            while got < n:
                k = proc.stdout.readinto(view[got:])
                if not k:
                    break
                got += k
            if got < n:
                break
            t = now_us()
            d = decode_frame(buf, w, h)
            out.append((t, d))
            if on_frame is not None:
                on_frame(t, d)
            if end is None and seconds is not None:
                end = time.monotonic() + seconds
            if (frames is not None and len(out) >= frames) or (end is not None and time.monotonic() >= end):
                break
    finally:
        killer.cancel()
        if proc.poll() is None:
            # What we wanted has been read: SIGKILL, since ffmpeg blocked in a
            # TLS read (HTTPS, RTSPS) can sit on SIGTERM for seconds.
            proc.kill()
            proc.wait()
        proc.stdout.close()
    out.returncode = proc.returncode
    pump.join(timeout=10)
    out.stderr = b"".join(err).decode(errors="replace")
    return out


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise ValueError("not a JPEG marker stream")
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seglen
    raise ValueError("no SOF marker in JPEG")


def jpeg_gray(data, timeout=30):
    """(gray8 plane, width, height) of one JPEG, decoded by ffmpeg."""
    w, h = jpeg_size(data)
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "image2pipe", "-c:v", "mjpeg",
                        "-i", "pipe:0", "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"],
                       input=data, capture_output=True, timeout=timeout)
    if r.returncode != 0 or len(r.stdout) < w * h:
        raise ValueError(f"ffmpeg could not decode the JPEG: {r.stderr.decode(errors='replace')}")
    return r.stdout[:w * h], w, h


def decode_jpeg(data):
    """(camera_id_hex, seq, wall_us) carried by a JPEG, or None."""
    gray, w, h = jpeg_gray(data)
    return decode_frame(gray, w, h)


def read_mjpeg(url, frames=None, seconds=None, timeout=60, headers=None):
    """Reads a multipart/x-mixed-replace MJPEG stream over HTTP and splits it
    in Python. Returns (response headers, [(arrival_wall_us, part headers, jpeg bytes)]).
    Checks the framing strictly: every part must be image/jpeg and a whole JPEG."""
    req = urllib.request.Request(url, headers=headers or {})
    resp = urllib.request.urlopen(req, timeout=timeout)
    deadline = time.monotonic() + timeout
    end = None
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("multipart/x-mixed-replace"), f"not an MJPEG stream: {ctype!r}"
    boundary = None
    for p in ctype.split(";")[1:]:
        k, _, v = p.strip().partition("=")
        if k.lower() == "boundary":
            boundary = v.strip('"')
    assert boundary, f"no boundary in {ctype!r}"
    delim = b"--" + boundary.encode()
    parts = []
    buf = b""
    try:
        while time.monotonic() < deadline:
            # Up to the next delimiter line.
            while delim not in buf:
                chunk = resp.read1(65536)
                if not chunk:
                    return resp.headers, parts
                buf += chunk
            start = buf.index(delim) + len(delim)
            buf = buf[start:]
            while b"\r\n\r\n" not in buf:
                chunk = resp.read1(65536)
                if not chunk:
                    return resp.headers, parts
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            if head.startswith(b"--"):
                return resp.headers, parts  # closing delimiter
            hdrs = {}
            for line in head.split(b"\r\n"):
                if b":" in line:
                    k, _, v = line.partition(b":")
                    hdrs[k.strip().decode().lower()] = v.strip().decode()
            assert hdrs.get("content-type", "").lower() == "image/jpeg", f"part is not a JPEG: {hdrs}"
            if "content-length" in hdrs:
                size = int(hdrs["content-length"])
                while len(buf) < size:
                    chunk = resp.read1(65536)
                    if not chunk:
                        return resp.headers, parts
                    buf += chunk
                body, buf = buf[:size], buf[size:]
            else:
                while delim not in buf:
                    chunk = resp.read1(65536)
                    if not chunk:
                        return resp.headers, parts
                    buf += chunk
                i = buf.index(delim)
                body, buf = buf[:i].rstrip(b"\r\n"), buf[i:]
            t = now_us()
            assert body[:2] == b"\xff\xd8" and body.rstrip(b"\r\n")[-2:] == b"\xff\xd9", "part is not a whole JPEG"
            parts.append((t, hdrs, body))
            if end is None and seconds is not None:
                end = time.monotonic() + seconds
            if (frames is not None and len(parts) >= frames) or (end is not None and time.monotonic() >= end):
                break
    finally:
        resp.close()
    return resp.headers, parts


def decode_mjpeg(url, frames=None, seconds=None, timeout=60, headers=None):
    """read_mjpeg, then each part decoded: a Decoded list of (arrival_wall_us, code or None),
    with .sizes the (width, height) of each JPEG."""
    _, parts = read_mjpeg(url, frames=frames, seconds=seconds, timeout=timeout, headers=headers)
    out = Decoded()
    out.sizes = []
    for t, _, body in parts:
        gray, w, h = jpeg_gray(body)
        out.sizes.append((w, h))
        out.append((t, decode_frame(gray, w, h)))
    return out


def listening(port):
    """True when some process listens on TCP port (read from /proc: no connection
    is made, so a one-client server such as ffmpeg -listen 1 is not used up)."""
    want = f":{port:04X}"
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def median(xs):
    xs = sorted(xs)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def random_camera_id():
    return os.urandom(16).hex()
