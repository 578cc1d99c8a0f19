"""The camvault command line: help, JSON output, camera add/list/remove, demo."""
import json
import re
import signal
import subprocess
import time

from conftest import CAMVAULT, SLOW, Proc, ffprobe_streams, wait_for


def run(*args, timeout=30):
    return subprocess.run([str(CAMVAULT), *args], capture_output=True, text=True, timeout=timeout * SLOW)


def test_help_for_every_command():
    for args in (["--help"], ["serve", "--help"], ["demo", "--help"], ["camera", "--help"]):
        r = run(*args)
        assert r.returncode == 0 and "usage" in r.stdout, (args, r.stdout, r.stderr)
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_camera_add_list_remove_json(tmp_path):
    data = str(tmp_path / "var")
    r = run("camera", "add", "--name", "porch", "--data", data, "--json")
    assert r.returncode == 0, r.stderr
    cam = json.loads(r.stdout)
    assert re.fullmatch(r"[0-9a-f]{32}", cam["id"])
    assert cam["ingest_url"] == f"rtsp://127.0.0.1:8554/cam/{cam['id']}"
    r = run("camera", "add", "--name", "door", "--pull", "rtsp://admin:secret@10.0.0.5/stream1",
            "--transport", "udp", "--data", data, "--json")
    door = json.loads(r.stdout)
    assert door["source"] == "pull" and "secret" not in r.stdout and door["pull_transport"] == "udp"
    r = run("camera", "add", "--name", "porch", "--data", data, "--json")
    assert r.returncode == 1 and "exists" in r.stderr
    listed = json.loads(run("camera", "list", "--data", data, "--json").stdout)
    assert [c["name"] for c in listed] == ["porch", "door"]
    r = run("camera", "remove", "porch", "--data", data, "--json")
    assert json.loads(r.stdout)["removed"] == cam["id"]
    again = json.loads(run("camera", "add", "--name", "porch", "--data", data, "--json").stdout)
    assert again["id"] != cam["id"], "a removed camera's id was handed out again"
    assert run("camera", "remove", cam["id"], "--data", data).returncode == 1
    r = run("camera", "add", "--name", "x", "--pull", "http://nope", "--data", data)
    assert r.returncode == 1
    r = run("camera", "add", "--name", "y", "--pull", "rtsp://h/s", "--transport", "carrier-pigeon", "--data", data)
    assert r.returncode == 2


def test_bad_config_is_reported(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[server]\nrtsp_port = banana\n")
    r = run("serve", "--config", str(conf), "--data", str(tmp_path / "v"))
    assert r.returncode != 0 and "rtsp_port" in r.stderr


def test_demo_prints_urls_plays_and_stops_cleanly(tmp_path):
    p = Proc([str(CAMVAULT), "demo", "--data", str(tmp_path / "var"), "--rtsp-port", "0"])
    try:
        m = wait_for(lambda: re.search(r"ffplay -rtsp_transport tcp (rtsp://\S+)", p.text()), 30, "the demo URLs")
        url = m.group(1)
        cam_id = url.rsplit("/", 1)[1]
        wait_for(lambda: re.search(r"is live", p.text()), 30, "the synthetic camera to go live")
        streams = ffprobe_streams(url)
        assert sorted(s["codec_name"] for s in streams) == ["aac", "h264"]
        p.p.send_signal(signal.SIGINT)
        assert p.wait(20) == 0, p.text()[-2000:]
        assert "stopped" in p.text()
    finally:
        p.stop()
    time.sleep(0.2)
    r = subprocess.run(["pgrep", "-f", f"ffmpeg.*{cam_id}"], capture_output=True)
    assert r.returncode == 1  # no ffmpeg left behind
