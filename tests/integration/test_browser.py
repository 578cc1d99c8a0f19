"""A real browser plays camvault's HLS: headless Chromium (Debian's
/usr/bin/chromium) driven by playwright-core runs hls.js in a page of the HLS
server's own origin (tests/browser/play-hls.mjs), and checks that the video
plays, is not black and shows the right camera (the pattern.py picture code,
read from a canvas).

First the harness itself, on a static fMP4 HLS made by ffmpeg and served by a
small HTTP server; then camvault's LL-HLS. Under CI the browser must be there
(scripts/deps.sh test installs it): these tests skip only on a developer's
machine that lacks node, chromium or tests/browser/node_modules."""
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

from conftest import ROOT, SLOW, wait_live
from pattern import cameras_fixture  # noqa: F401 (the `cameras` fixture)
from pattern import random_camera_id, write_clip

BROWSER_DIR = ROOT / "tests" / "browser"
HARNESS = BROWSER_DIR / "play-hls.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def need_browser():
    missing = []
    if shutil.which("node") is None:
        missing.append("node")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(CHROMIUM)
    for mod in ("playwright-core", "hls.js"):
        if not (BROWSER_DIR / "node_modules" / mod / "package.json").exists():
            missing.append(f"tests/browser/node_modules/{mod} (npm ci --prefix tests/browser)")
    if missing:
        msg = "browser harness needs " + ", ".join(missing) + " (scripts/deps.sh test installs them)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def run_harness(url, expect_camera=None, seconds=5, timeout=60, extra=()):
    """Runs play-hls.mjs; returns (exit code, its JSON result)."""
    need_browser()
    args = ["node", str(HARNESS), "--url", url, "--seconds", str(seconds), "--timeout", str(int(timeout * SLOW)),
            "--chromium", CHROMIUM]
    if expect_camera:
        args += ["--expect-camera", expect_camera]
    args += list(extra)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout * SLOW + 30, cwd=BROWSER_DIR)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, f"play-hls.mjs printed no result (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    print("\nplay-hls:", lines[-1])
    return r.returncode, json.loads(lines[-1])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def static_http():
    """serve(dir) -> base URL of a small HTTP server on 127.0.0.1 for dir."""
    servers = []

    def serve(directory):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def static_hls(tmp_path_factory):
    """(dir, camera id): 12 s of pattern video as fMP4 HLS (1 s segments), made once."""
    need_browser()
    d = tmp_path_factory.mktemp("hls")
    cam = random_camera_id()
    write_clip(["-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "1", "-hls_playlist_type", "vod",
                "-hls_segment_filename", str(d / "seg%03d.m4s"), str(d / "index.m3u8")], cam, seconds=12, gop=25)
    return d, cam


def test_harness_plays_static_hls(static_hls, static_http):
    d, cam = static_hls
    base = static_http(d)
    rc, res = run_harness(f"{base}/index.m3u8", expect_camera=cam, seconds=5)
    assert rc == 0 and res["ok"], res
    assert res["currentTime"] >= 3 and res["advanced"] >= 3
    assert res["camera"] == cam and res["decoded"] >= 5
    assert res["meanLuma"] > 60  # about half the cells are white
    assert res["size"] == "320x240"
    assert not [e for e in res["errors"] if "fatal" in e], res["errors"]


def test_harness_notices_the_wrong_camera_and_a_missing_stream(static_hls, static_http):
    """The harness's checks are not vacuous."""
    d, cam = static_hls
    base = static_http(d)
    other = random_camera_id()
    rc, res = run_harness(f"{base}/index.m3u8", expect_camera=other, seconds=3)
    assert rc == 1 and not res["ok"]
    assert res["camera"] == cam
    assert any("is not " + other in f for f in res["failures"]), res
    rc, res = run_harness(f"{base}/missing.m3u8", seconds=3, timeout=30)
    assert rc == 1 and not res["ok"]
    assert any("manifestLoadError" in e for e in res["errors"]), res["errors"]
    assert "video never started playing" in res["failures"]


def test_browser_plays_camvault_ll_hls(server, cameras):
    """A PatternCamera pushes to camvault; Chromium plays the camera's LL-HLS
    with hls.js (low-latency mode) and sees that camera's picture."""
    need_browser()
    srv = server()
    cam = srv.add_camera("browser")
    pc = cameras(cam["ingest_url"], cam["id"])
    wait_live(srv, cam["id"], timeout=30)
    url = srv.http_url(cam["id"], "index.m3u8")
    rc, res = run_harness(url, expect_camera=cam["id"], seconds=8, timeout=60)
    assert rc == 0 and res["ok"], res
    assert res["camera"] == cam["id"]
    assert res["live"] is True, "the media playlist should be live (no EXT-X-ENDLIST)"
    assert res["lowLatency"] is True, "hls.js saw no EXT-X-PART in the media playlist"
    print(f"LL-HLS in Chromium: glass-to-glass median {res['latency_ms']} ms "
          f"(min {res.get('latency_ms_min')}, max {res.get('latency_ms_max')})")
    assert 0 < res["latency_ms"] < 5000 * SLOW
    assert pc.alive() and pc.error is None, pc.text()
    assert srv.alive()
