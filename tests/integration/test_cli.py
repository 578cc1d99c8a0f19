"""The camvault command line: help, JSON output, camera add/list/remove, demo.
The administrative commands in depth: test_admin_cli.py."""
import json
import re
import signal
import subprocess
import time

from conftest import CAMVAULT, SLOW, Proc, ffprobe_streams, wait_for


def run(*args, timeout=30):
    return subprocess.run([str(CAMVAULT), *args], capture_output=True, text=True, timeout=timeout * SLOW)


def test_help_for_every_command():
    for args in (["--help"], ["serve", "--help"], ["demo", "--help"], ["camera", "--help"], ["user", "--help"],
                 ["home", "--help"], ["grant", "--help"], ["token", "--help"], ["audit", "--help"]):
        r = run(*args)
        assert r.returncode == 0 and "usage" in r.stdout, (args, r.stdout, r.stderr)
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_camera_add_list_remove_json(tmp_path):
    data = str(tmp_path / "var")
    r = run("camera", "add", "--name", "porch", "--data", data, "--json")
    assert r.returncode == 1 and "home add" in r.stderr, "a camera needs a home, and the message says how to make one"
    assert run("user", "add", "alice", "--admin", "--data", data).returncode == 0
    assert run("home", "add", "house", "--owner", "alice", "--data", data).returncode == 0
    r = run("camera", "add", "--name", "porch", "--data", data, "--json")
    assert r.returncode == 0, r.stderr
    cam = json.loads(r.stdout)
    assert re.fullmatch(r"[0-9a-f]{32}", cam["id"])
    assert re.fullmatch(rf"rtsp://camera:[A-Za-z0-9_-]{{16,}}@127\.0\.0\.1:8554/cam/{cam['id']}", cam["ingest_url"])
    assert cam["rtsp_url"] == f"rtsp://127.0.0.1:8554/cam/{cam['id']}"
    assert cam["name"] == "porch" and cam["home_name"] == "house" and cam["source"] == "push"
    r = run("camera", "add", "--name", "door", "--pull", "rtsp://admin:secret@10.0.0.5/stream1",
            "--transport", "udp", "--data", data, "--json")
    door = json.loads(r.stdout)
    assert door["source"] == "pull" and "secret" not in r.stdout and door["pull_transport"] == "udp"
    assert "ingest_url" not in door
    r = run("camera", "add", "--name", "porch", "--data", data, "--json")
    assert r.returncode == 1 and "exists" in r.stderr
    r = run("camera", "list", "--data", data, "--json")
    listed = json.loads(r.stdout)
    assert [c["name"] for c in listed] == ["porch", "door"]
    assert all("ingest_url" not in c for c in listed) and "camera:" not in r.stdout
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


def run_demo(data):
    """Runs camvault demo until its camera is live; returns (output, viewing URL, camera id) after a clean stop
    in which the stream played with ffprobe."""
    p = Proc([str(CAMVAULT), "demo", "--data", str(data), "--rtsp-port", "0", "--http-port", "0"])
    try:
        m = wait_for(lambda: re.search(r"ffplay -rtsp_transport tcp '(rtsp://[^']+)'", p.text()), 30, "the demo URLs")
        url = m.group(1)
        mu = re.fullmatch(r"rtsp://127\.0\.0\.1:\d+/cam/([0-9a-f]{32})\?token=(cvt1\.[A-Za-z0-9_-]+)", url)
        assert mu, url
        cam_id = mu.group(1)
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
    return p.text(), url, cam_id


def test_demo_prints_urls_plays_and_stops_cleanly(tmp_path):
    data = tmp_path / "var"
    out, url, cam_id = run_demo(data)
    # First run: an administrator with a generated password, shown once; never a default credential.
    m = re.search(r"admin password \(shown once\): (\S+)", out)
    assert m and len(m.group(1)) >= 16, out[-3000:]
    password = m.group(1)
    assert "camvault token issue --camera demo --for admin" in out
    # The ingest secret reaches only ffmpeg: every printed ingest URL is redacted.
    assert not re.search(r"rtsp://camera:(?!\*\*\*@)", out), out[-3000:]
    users = json.loads(run("user", "list", "--data", str(data), "--json").stdout)
    assert [u["login"] for u in users] == ["admin"] and users[0]["admin"]
    homes = json.loads(run("home", "list", "--data", str(data), "--json").stdout)
    assert [(h["name"], h["owners"]) for h in homes] == [("demo", ["admin"])]

    # Second run: same camera, a fresh ingest secret and token, no new password.
    out2, url2, cam_id2 = run_demo(data)
    assert cam_id2 == cam_id and url2 != url
    assert "admin password" not in out2 and password not in out2
    assert len(json.loads(run("user", "list", "--data", str(data), "--json").stdout)) == 1
