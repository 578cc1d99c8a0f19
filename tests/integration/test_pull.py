"""camvault pulls cameras: a real RTSP camera (GStreamer's RTSP server) with
Basic or Digest auth, TCP or UDP, and reconnects when it drops."""
import re
import subprocess
import time

import pytest

from conftest import RTSP_CAMERA, SLOW, ffprobe_streams, free_port, wait_for


def start_camera(procs, port, *args):
    cam = procs([str(RTSP_CAMERA), "--port", str(port), *args])
    m = wait_for(lambda: re.search(r"listening on (rtsp://\S+)", cam.text()), 20, "the RTSP camera to listen")
    return cam, m.group(1)


def frames(url, seconds=3, transport="tcp"):
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", transport, "-i", url,
                        "-t", str(seconds), "-map", "0", "-f", "null", "-", "-progress", "pipe:1"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    counts = [int(line.split("=")[1]) for line in r.stdout.splitlines() if line.startswith("frame=")]
    return counts[-1] if counts else 0


@pytest.mark.parametrize("auth,transport,codec,audio", [
    ("none", "tcp", "h264", "aac"),
    ("basic", "auto", "h264", "pcmu"),
    ("digest", "udp", "h265", "none"),
    ("digest", "tcp", "h264", "opus"),
])
def test_pull_camera_and_watch(server, procs, auth, transport, codec, audio):
    port = free_port()
    _, url = start_camera(procs, port, "--codec", codec, "--audio", audio, "--auth", auth,
                          "--user", "admin", "--pass", "s3cret@pass")
    if auth != "none":
        url = url.replace("rtsp://", "rtsp://admin:s3cret%40pass@")
    srv = server()
    cam = srv.add_camera("pulled", pull=url, transport=transport)
    wait_for(lambda: srv.find(rf"camera {cam['id']}.*(is live|pulling)"), 20, "the puller to start")
    view = srv.url(cam["id"])
    wait_for(lambda: subprocess.run(["ffprobe", "-v", "quiet", "-rtsp_transport", "tcp", view],
                                    timeout=30 * SLOW).returncode == 0, 30, "the pulled camera to be watchable")
    streams = ffprobe_streams(view)
    kinds = sorted(s["codec_type"] for s in streams)
    assert kinds == (["video"] if audio == "none" else ["audio", "video"])
    assert frames(view) >= 40
    assert "s3cret" not in srv.log(), "a camera password reached the log"


def test_udp_only_camera_with_auto_falls_back(server, procs):
    port = free_port()
    _, url = start_camera(procs, port, "--transport", "udp")
    srv = server()
    cam = srv.add_camera("udp-only", pull=url, transport="auto")
    view = srv.url(cam["id"])
    wait_for(lambda: subprocess.run(["ffprobe", "-v", "quiet", "-rtsp_transport", "tcp", view],
                                    timeout=30 * SLOW).returncode == 0, 40, "the fallback to UDP")
    assert frames(view) >= 40


def test_pulled_camera_drops_and_returns(server, procs):
    port = free_port()
    cam_proc, url = start_camera(procs, port)
    srv = server()
    cam = srv.add_camera("restarting", pull=url)
    view = srv.url(cam["id"])
    wait_for(lambda: subprocess.run(["ffprobe", "-v", "quiet", "-rtsp_transport", "tcp", view],
                                    timeout=30 * SLOW).returncode == 0, 30, "the pulled camera")
    other = srv.add_camera("bystander", pull=start_camera(procs, free_port())[1])
    cam_proc.stop()
    time.sleep(1)
    t0 = time.monotonic()
    start_camera(procs, port)
    wait_for(lambda: subprocess.run(["ffprobe", "-v", "quiet", "-rtsp_transport", "tcp", view],
                                    timeout=30 * SLOW).returncode == 0, 60, "the puller to reconnect")
    reconnect = time.monotonic() - t0
    assert reconnect < 30 * SLOW
    assert frames(srv.url(other["id"])) >= 40, "the other camera was disturbed"


def test_wrong_password_is_reported_and_retried(server, procs):
    port = free_port()
    _, url = start_camera(procs, port, "--auth", "digest", "--user", "admin", "--pass", "right")
    srv = server()
    srv.add_camera("locked", pull=url.replace("rtsp://", "rtsp://admin:Wr0ngPa55@"))
    wait_for(lambda: srv.count(r"401") >= 2, 30, "two failed attempts with backoff")
    assert "Wr0ngPa55" not in srv.log()
