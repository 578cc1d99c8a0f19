"""The administrative command line: camvault user|home|camera|grant|token|audit.

Every subcommand's happy path and --json shape, the errors (exit 1 with a
message for things that do not exist or are refused, exit 2 for bad flags),
and the secret handling: passwords only from standard input and never echoed,
generated secrets printed once and never listed, nothing in the database in
the clear. Names with SQL metacharacters and non-ASCII text round-trip."""
import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CAMVAULT, SLOW, Proc, wait_for

HEX32 = r"[0-9a-f]{32}"


class Cli:
    """camvault on one data directory. stdin is always given (empty by
    default), so nothing ever waits on the terminal."""

    def __init__(self, data):
        self.data = Path(data)

    def run(self, *args, input="", json_out=False):
        cmd = [str(CAMVAULT), *args, "--data", str(self.data)]
        if json_out:
            cmd.append("--json")
        return subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60 * SLOW)

    def ok(self, *args, input=""):
        """Runs with --json, expects exit 0, returns the parsed output."""
        r = self.run(*args, input=input, json_out=True)
        assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return json.loads(r.stdout)

    def text(self, *args, input=""):
        r = self.run(*args, input=input)
        assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def fails(self, code, *args, input="", json_out=False):
        """Expects exit code (1 refused / not found, 2 usage) with a message on stderr and nothing on stdout."""
        r = self.run(*args, input=input, json_out=json_out)
        assert r.returncode == code, f"{args}: expected exit {code}, got {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert r.stderr.strip(), f"{args}: no message on stderr"
        if code == 1:
            assert r.stdout == "", f"{args}: a failed command printed {r.stdout!r}"
        return r

    def stored_bytes(self):
        """Everything SQLite has on disk (database and WAL)."""
        out = b""
        for p in self.data.iterdir():
            if p.name.startswith("camvault.db"):
                out += p.read_bytes()
        return out


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path / "var")


@pytest.fixture
def house(cli):
    """An administrator 'alice', a user 'bob' (no home), alice's home 'house', and its push camera 'porch'."""
    alice = cli.ok("user", "add", "alice", "--admin")
    bob = cli.ok("user", "add", "bob", "--password-stdin", input="bob-password-1\n")
    home = cli.ok("home", "add", "house", "--owner", "alice")
    porch = cli.ok("camera", "add", "--name", "porch")
    return {"alice": alice, "bob": bob, "home": home, "porch": porch}


# ----------------------------------------------------------------- help, usage


def test_help_for_every_admin_command():
    for args in (["user"], ["home"], ["camera"], ["grant"], ["token"], ["audit"], ["user", "add"],
                 ["home", "member"], ["token", "issue"]):
        r = subprocess.run([str(CAMVAULT), *args, "--help"], capture_output=True, text=True, timeout=30 * SLOW)
        assert r.returncode == 0 and "usage" in r.stdout, (args, r.stdout, r.stderr)
    r = subprocess.run([str(CAMVAULT), "--help"], capture_output=True, text=True, timeout=30 * SLOW)
    for group in ("user", "home", "camera", "grant", "token", "audit"):
        assert re.search(rf"^\s+{group}\s", r.stdout, re.M), group


@pytest.mark.parametrize("args", [
    ["user"],                                   # no subcommand
    ["user", "frobnicate"],
    ["user", "add"],                            # LOGIN missing
    ["user", "add", "a", "b"],                  # one too many
    ["user", "list", "--admin"],                # flag of another subcommand
    ["user", "add", "x", "--bogus"],
    ["user", "passwd", "alice"],                # --password-stdin is required
    ["user", "app-password", "frob", "alice"],
    ["home", "add", "h"],                       # --owner missing
    ["home", "member", "add", "house", "bob"],  # --role missing
    ["home", "member", "add", "house", "bob", "--role", "king"],
    ["home", "member", "list", "house", "--role", "owner"],
    ["camera", "add"],                          # --name missing
    ["camera", "add", "--name", "x", "--transport", "tcp"],     # push cameras have no transport
    ["camera", "add", "--name", "x", "--substream", "rtsp://h/s"],
    ["camera", "add", "--name", "x", "--pull", "rtsp://h/s", "--transport", "pigeon"],
    ["camera", "remove"],
    ["camera", "list", "--name", "x"],
    ["grant", "add", "--camera", "porch", "--user", "bob"],     # --expires missing
    ["grant", "add", "--camera", "porch", "--user", "bob", "--expires", "tomorrow"],
    ["grant", "add", "--camera", "porch", "--user", "bob", "--expires", "2h", "--scope", "everything"],
    ["grant", "remove", "not-an-id"],
    ["token", "issue"],                         # --camera missing
    ["token", "issue", "--camera", "porch", "--ttl", "soon"],
    ["token", "issue", "--camera", "porch", "--scope", "root"],
    ["token", "revoke"],                        # --token missing
    ["audit", "--limit", "-1"],
    ["audit", "--after", "x"],
    ["audit", "extra"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(house, cli, args):
    r = cli.fails(2, *args)
    assert "Traceback" not in r.stderr


def test_errors_are_on_stderr_even_with_json(house, cli):
    for args in (["user", "remove", "ghost"], ["camera", "remove", "ghost"], ["home", "remove", "ghost"]):
        r = cli.fails(1, *args, json_out=True)
        assert "ghost" in r.stderr


# ----------------------------------------------------------------------- users


def test_user_add_generates_a_password_shown_once(cli):
    r = cli.run("user", "add", "alice")
    assert r.returncode == 0, r.stderr
    m = re.search(r"password \(shown once\): (\S+)", r.stdout)
    assert m, r.stdout
    password = m.group(1)
    assert len(password) >= 20
    u = cli.ok("user", "add", "carol", "--admin")
    assert set(u) >= {"id", "login", "admin", "disabled", "password"}
    assert re.fullmatch(HEX32, u["id"]) and u["login"] == "carol" and u["admin"] is True
    assert len(u["password"]) >= 20 and u["password"] != password
    # never again: not in lists, not in the audit log, not in the database
    for args in (["user", "list"], ["audit"]):
        assert password not in cli.text(*args) and u["password"] not in cli.text(*args)
        assert u["password"] not in json.dumps(cli.ok(*args))
    stored = cli.stored_bytes()
    assert password.encode() not in stored and u["password"].encode() not in stored


def test_user_list_json_shape(house, cli):
    users = cli.ok("user", "list")
    assert [u["login"] for u in users] == ["alice", "bob"]
    for u in users:
        assert set(u) >= {"id", "login", "admin", "disabled", "totp", "created"}
        assert "password" not in u
    assert users[0]["admin"] is True and users[1]["admin"] is False
    assert abs(users[0]["created"] - time.time()) < 600
    table = cli.text("user", "list")
    assert "LOGIN" in table and "alice" in table and house["alice"]["id"] in table


def test_password_from_stdin_is_never_echoed(cli):
    secret = "correct-horse-battery-staple"
    r = cli.run("user", "add", "dave", "--password-stdin", input=secret + "\n")
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout and secret not in r.stderr and "shown once" not in r.stdout
    r = cli.run("user", "add", "erin", "--password-stdin", input=secret + "\r\n", json_out=True)
    assert r.returncode == 0 and "password" not in json.loads(r.stdout)
    new = "another-long-password"
    r = cli.run("user", "passwd", "dave", "--password-stdin", input=new + "\n")
    assert r.returncode == 0, r.stderr
    assert new not in r.stdout + r.stderr
    assert secret.encode() not in cli.stored_bytes() and new.encode() not in cli.stored_bytes()
    assert any(e["event"] == "user.password" for e in cli.ok("audit"))
    # too short, or nothing at all on stdin: refused, still not echoed
    r = cli.fails(1, "user", "passwd", "dave", "--password-stdin", input="Zq7!x\n")
    assert "Zq7!x" not in r.stderr + r.stdout
    cli.fails(1, "user", "add", "frank", "--password-stdin", input="")
    assert "frank" not in [u["login"] for u in cli.ok("user", "list")]


def test_password_is_never_taken_from_argv(cli):
    for args in (["user", "add", "gina", "--password", "hunter2-hunter2"],
                 ["user", "add", "gina", "--password=hunter2-hunter2"],
                 ["user", "passwd", "gina", "--pass", "hunter2-hunter2"]):
        r = cli.fails(2, *args)
        assert "hunter2" not in r.stderr and "hunter2" not in r.stdout
    assert cli.ok("user", "list") == []


def test_password_prompt_on_a_terminal_does_not_echo(cli):
    """On a terminal, --password-stdin turns echo off: what is typed never shows."""
    master, slave = os.openpty()
    try:
        p = subprocess.Popen([str(CAMVAULT), "user", "add", "tty", "--password-stdin", "--data", str(cli.data)],
                             stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        slave = -1
        err = b""
        deadline = time.monotonic() + 20 * SLOW
        while b"password:" not in err:  # the prompt comes once echo is off
            assert time.monotonic() < deadline, f"no prompt: {err!r}"
            ready, _, _ = select.select([p.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(p.stderr.fileno(), 1024)
                assert chunk, f"stderr closed: {err!r}"
                err += chunk
        os.write(master, b"typed-on-a-terminal-1\n")
        out, rest = p.communicate(timeout=30 * SLOW)
        assert p.returncode == 0, (out, err + rest)
        echoed = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            echoed += chunk
        assert b"typed-on-a-terminal" not in echoed + out + err + rest
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_user_disable_enable_remove(house, cli):
    u = cli.ok("user", "disable", "bob")
    assert u["login"] == "bob" and u["disabled"] is True
    assert {x["login"]: x["disabled"] for x in cli.ok("user", "list")} == {"alice": False, "bob": True}
    assert cli.ok("user", "enable", "bob")["disabled"] is False
    assert "disabled user 'bob'" in cli.text("user", "disable", "BOB")  # logins ignore ASCII case
    r = cli.ok("user", "remove", house["bob"]["id"])  # by id as well
    assert r["removed"] == house["bob"]["id"] and r["login"] == "bob"
    assert [x["login"] for x in cli.ok("user", "list")] == ["alice"]
    r = cli.fails(1, "user", "remove", "bob")
    assert "no user 'bob'" in r.stderr
    again = cli.ok("user", "add", "bob")  # the login is free again, the id never
    assert again["id"] != house["bob"]["id"]


def test_user_errors(house, cli):
    for args in (["user", "passwd", "ghost", "--password-stdin"], ["user", "disable", "ghost"],
                 ["user", "enable", "ghost"], ["user", "remove", "ghost"],
                 ["user", "app-password", "add", "ghost"], ["user", "app-password", "list", "ghost"]):
        r = cli.fails(1, *args, input="long-enough-password\n")
        assert "no user 'ghost'" in r.stderr, r.stderr
    r = cli.fails(1, "user", "add", "ALICE")
    assert "taken" in r.stderr
    for bad in ("bad login", "x'--", "a" * 64, "ünïcode", ""):
        cli.fails(1, "user", "add", bad)
    assert [u["login"] for u in cli.ok("user", "list")] == ["alice", "bob"]


# --------------------------------------------------------------- app passwords


def test_app_passwords(house, cli):
    ap = cli.ok("user", "app-password", "add", "bob", "--label", "NVR 'garage'")
    assert set(ap) >= {"id", "login", "label", "password", "rtsp_url_template"}
    assert re.fullmatch(HEX32, ap["id"]) and ap["login"] == "bob" and ap["label"] == "NVR 'garage'"
    assert len(ap["password"]) >= 16
    assert ap["rtsp_url_template"].startswith(f"rtsp://bob:{ap['password']}@127.0.0.1:8554/cam/")
    r = cli.run("user", "app-password", "add", "bob")
    assert r.returncode == 0, r.stderr
    m = re.search(r"rtsp://bob:([^@\s]+)@127\.0\.0\.1:8554/cam/", r.stdout)
    assert m and "shown once" in r.stdout, r.stdout
    second = m.group(1)
    listed = cli.ok("user", "app-password", "list", "bob")
    assert len(listed) == 2 and listed[0]["label"] == "NVR 'garage'"
    assert listed[0]["id"] == ap["id"]
    for x in listed:
        assert set(x) >= {"id", "label", "created"} and "password" not in x
    table = cli.text("user", "app-password", "list", "bob")
    for shown in (json.dumps(listed), table, cli.text("audit"), json.dumps(cli.ok("audit"))):
        assert ap["password"] not in shown and second not in shown
    stored = cli.stored_bytes()
    assert ap["password"].encode() not in stored and second.encode() not in stored
    assert cli.ok("user", "app-password", "list", "alice") == []
    r = cli.ok("user", "app-password", "remove", "bob", ap["id"])
    assert r["removed"] == ap["id"]
    assert len(cli.ok("user", "app-password", "list", "bob")) == 1
    cli.fails(1, "user", "app-password", "remove", "bob", ap["id"])
    cli.fails(1, "user", "app-password", "remove", "alice", listed[1]["id"])  # not alice's
    cli.fails(2, "user", "app-password", "remove", "bob", "xyz")
    cli.fails(2, "user", "app-password", "list", "bob", "--label", "x")


# ----------------------------------------------------------------------- homes


def test_homes_and_members(house, cli):
    h = house["home"]
    assert set(h) >= {"id", "name", "owners", "cameras", "created"}
    assert re.fullmatch(HEX32, h["id"]) and h["name"] == "house" and h["owners"] == ["alice"]
    second = cli.ok("home", "add", "cabin", "--owner", "bob")
    homes = cli.ok("home", "list")
    assert [(x["name"], x["owners"], x["cameras"]) for x in homes] == [("house", ["alice"], 1), ("cabin", ["bob"], 0)]
    assert "cabin" in cli.text("home", "list")

    m = cli.ok("home", "member", "add", "house", "bob", "--role", "viewer")
    assert m["login"] == "bob" and m["role"] == "viewer" and m["home"] == h["id"]
    members = cli.ok("home", "member", "list", "house")
    assert {(x["login"], x["role"]) for x in members} == {("alice", "owner"), ("bob", "viewer")}
    assert all(set(x) >= {"user", "login", "role"} for x in members)
    cli.ok("home", "member", "set", h["id"], "bob", "--role", "member")
    assert {x["login"]: x["role"] for x in cli.ok("home", "member", "list", "house")}["bob"] == "member"
    assert "viewer" in cli.text("home", "member", "set", "house", "bob", "--role", "viewer")
    cli.ok("home", "member", "remove", "house", "bob")
    assert [x["login"] for x in cli.ok("home", "member", "list", "house")] == ["alice"]
    r = cli.fails(1, "home", "member", "remove", "house", "bob")
    assert "not a member" in r.stderr

    cli.fails(1, "home", "add", "house", "--owner", "bob")             # name taken
    assert "no user 'ghost'" in cli.fails(1, "home", "add", "x", "--owner", "ghost").stderr
    assert "no home 'ghost'" in cli.fails(1, "home", "member", "list", "ghost").stderr
    assert "no user 'ghost'" in cli.fails(1, "home", "member", "add", "house", "ghost", "--role", "viewer").stderr

    # removing a home removes its cameras
    r = cli.ok("home", "remove", "house")
    assert r["removed"] == h["id"] and r["cameras_removed"] == 1
    assert [x["name"] for x in cli.ok("home", "list")] == ["cabin"]
    assert cli.ok("camera", "list") == []
    cli.fails(1, "camera", "remove", house["porch"]["id"])
    cli.fails(1, "home", "remove", "house")
    assert cli.ok("home", "remove", second["id"])["name"] == "cabin"


# --------------------------------------------------------------------- cameras


def test_push_camera_secret_is_printed_once(house, cli):
    porch = house["porch"]
    assert set(porch) >= {"id", "name", "home", "home_name", "source", "ingest_url", "rtsp_url", "created"}
    m = re.fullmatch(rf"rtsp://camera:([A-Za-z0-9_-]+)@127\.0\.0\.1:8554/cam/({HEX32})", porch["ingest_url"])
    assert m and m.group(2) == porch["id"]
    secret = m.group(1)
    assert len(secret) >= 24
    assert porch["rtsp_url"] == f"rtsp://127.0.0.1:8554/cam/{porch['id']}"
    assert porch["home"] == house["home"]["id"] and porch["home_name"] == "house"

    r = cli.run("camera", "add", "--name", "garden")
    assert r.returncode == 0
    m2 = re.search(r"rtsp://camera:([A-Za-z0-9_-]+)@127\.0\.0\.1:8554/cam/" + HEX32, r.stdout)
    assert m2 and "shown only once" in r.stdout and "rotate-secret" in r.stdout, r.stdout
    garden_secret = m2.group(1)

    listed = cli.ok("camera", "list")
    assert [c["name"] for c in listed] == ["porch", "garden"]
    for c in listed:
        assert "ingest_url" not in c and c["rtsp_url"].endswith(c["id"])
    for shown in (json.dumps(listed), cli.text("camera", "list"), cli.text("audit"), json.dumps(cli.ok("audit")),
                  cli.text("home", "list")):
        assert secret not in shown and garden_secret not in shown
    stored = cli.stored_bytes()
    assert secret.encode() not in stored and garden_secret.encode() not in stored

    rot = cli.ok("camera", "rotate-secret", "porch")
    m3 = re.fullmatch(rf"rtsp://camera:([A-Za-z0-9_-]+)@127\.0\.0\.1:8554/cam/{porch['id']}", rot["ingest_url"])
    assert m3 and m3.group(1) != secret and rot["id"] == porch["id"]
    assert any(e["event"] == "camera.rotate" for e in cli.ok("audit"))
    r = cli.run("camera", "rotate-secret", porch["id"])
    assert r.returncode == 0 and "shown only once" in r.stdout and m3.group(1) not in r.stdout


def test_pull_camera(house, cli):
    door = cli.ok("camera", "add", "--name", "door", "--model", "Acme Cam 3000", "--pull",
                  "rtsp://admin:pa55word@192.0.2.10/stream1", "--transport", "tcp",
                  "--substream", "rtsp://admin:pa55word@192.0.2.10/stream2")
    assert door["source"] == "pull" and door["pull_transport"] == "tcp" and door["model"] == "Acme Cam 3000"
    assert door["substream"] is True and "ingest_url" not in door
    assert door["pull_url"] == "rtsp://admin:***@192.0.2.10/stream1"
    everything = json.dumps(cli.ok("camera", "list")) + cli.text("camera", "list") + cli.text("audit")
    assert "pa55word" not in everything and b"pa55word" not in cli.stored_bytes()
    r = cli.fails(1, "camera", "rotate-secret", "door")
    assert "pull" in r.stderr
    cli.fails(1, "camera", "add", "--name", "bad", "--pull", "http://192.0.2.10/")


def test_camera_home_selection(cli):
    r = cli.fails(1, "camera", "add", "--name", "porch")
    assert "home add" in r.stderr and "user add" in r.stderr
    cli.ok("user", "add", "alice")
    cli.ok("home", "add", "house", "--owner", "alice")
    porch = cli.ok("camera", "add", "--name", "porch")  # the only home
    assert porch["home_name"] == "house"
    cli.ok("home", "add", "cabin", "--owner", "alice")
    r = cli.fails(2, "camera", "add", "--name", "shed")
    assert "--home" in r.stderr and "house" in r.stderr and "cabin" in r.stderr
    assert "no home 'ghost'" in cli.fails(1, "camera", "add", "--name", "shed", "--home", "ghost").stderr
    other = cli.ok("camera", "add", "--name", "porch", "--home", "cabin")  # names are unique per home only
    assert other["home_name"] == "cabin" and other["id"] != porch["id"]
    assert [c["id"] for c in cli.ok("camera", "list", "--home", "cabin")] == [other["id"]]
    assert len(cli.ok("camera", "list")) == 2
    r = cli.fails(1, "camera", "remove", "porch")  # ambiguous
    assert "several" in r.stderr and "--home" in r.stderr
    r = cli.ok("camera", "remove", "porch", "--home", "cabin")
    assert r["removed"] == other["id"]
    assert cli.ok("camera", "remove", "porch")["removed"] == porch["id"]  # unique again
    assert "no camera 'porch'" in cli.fails(1, "camera", "remove", "porch").stderr


# ---------------------------------------------------------------------- grants


def test_grants(house, cli):
    porch = house["porch"]
    # bob is no member of house: no token for him
    r = cli.fails(1, "token", "issue", "--camera", "porch", "--for", "bob")
    assert "may not" in r.stderr
    g = cli.ok("grant", "add", "--camera", "porch", "--user", "bob", "--expires", "2h")
    assert set(g) >= {"id", "camera", "user", "login", "scopes", "expires", "expired", "created"}
    assert re.fullmatch(HEX32, g["id"]) and g["camera"] == porch["id"] and g["login"] == "bob"
    assert g["scopes"] == ["live"] and g["expired"] is False
    assert abs(g["expires"] - (time.time() + 7200)) < 120
    tok = cli.ok("token", "issue", "--camera", "porch", "--for", "bob")
    assert tok["camera"] == porch["id"]
    g2 = cli.ok("grant", "add", "--camera", porch["id"], "--user", "alice", "--expires", "7d",
                "--scope", "live,snapshot")
    assert g2["scopes"] == ["live", "snapshot"] and abs(g2["expires"] - (time.time() + 7 * 86400)) < 120
    assert {x["id"] for x in cli.ok("grant", "list")} == {g["id"], g2["id"]}
    assert [x["id"] for x in cli.ok("grant", "list", "--user", "bob")] == [g["id"]]
    assert len(cli.ok("grant", "list", "--camera", "porch")) == 2
    assert "bob" in cli.text("grant", "list")
    r = cli.ok("grant", "remove", g["id"])
    assert r["removed"] == g["id"]
    cli.fails(1, "token", "issue", "--camera", "porch", "--for", "bob")
    assert [x["id"] for x in cli.ok("grant", "list")] == [g2["id"]]
    cli.fails(1, "grant", "remove", g["id"])
    cli.fails(1, "grant", "remove", "0" * 32)
    assert "no user 'ghost'" in cli.fails(1, "grant", "add", "--camera", "porch", "--user", "ghost",
                                          "--expires", "1h").stderr
    assert "no camera 'ghost'" in cli.fails(1, "grant", "add", "--camera", "ghost", "--user", "bob",
                                            "--expires", "1h").stderr
    cli.fails(1, "grant", "list", "--camera", "ghost")


# ---------------------------------------------------------------------- tokens


def test_tokens(house, cli):
    porch = house["porch"]
    t = cli.ok("token", "issue", "--camera", "porch", "--for", "alice")
    assert set(t) >= {"token", "rtsp_url", "expires", "camera"}
    assert t["token"].startswith("cvt1.") and t["camera"] == porch["id"]
    assert t["rtsp_url"] == f"rtsp://127.0.0.1:8554/cam/{porch['id']}?token={t['token']}"
    assert abs(t["expires"] - (time.time() + 300)) < 60  # default ttl 5m
    long = cli.ok("token", "issue", "--camera", porch["id"], "--for", "alice", "--ttl", "2h", "--scope", "live")
    assert abs(long["expires"] - (time.time() + 7200)) < 60
    r = cli.run("token", "issue", "--camera", "porch", "--for", "alice")
    assert r.returncode == 0 and re.search(r"ffplay .*rtsp://127\.0\.0\.1:8554/cam/" + porch["id"] + r"\?token=cvt1\.",
                                           r.stdout), r.stdout
    cli.fails(1, "token", "issue", "--camera", "porch", "--ttl", "25h")
    cli.fails(1, "token", "issue", "--camera", "ghost")
    cli.fails(1, "token", "issue", "--camera", "porch", "--for", "ghost")

    listed = cli.ok("token", "list")
    assert len(listed) == 3
    for x in listed:
        assert set(x) >= {"hash", "camera", "login", "scopes", "expires", "revoked"}
        assert x["camera"] == porch["id"] and x["login"] == "alice" and x["revoked"] is False
    shown = json.dumps(listed) + cli.text("token", "list") + cli.text("audit")
    assert t["token"] not in shown and long["token"] not in shown
    assert t["token"].encode() not in cli.stored_bytes()

    r = cli.ok("token", "revoke", "--token", t["token"])
    assert re.fullmatch(r"[0-9a-f]{64}", r["revoked"])
    assert sum(x["revoked"] for x in cli.ok("token", "list", "--camera", "porch")) == 1
    r = cli.run("token", "revoke", "--token", "-", input=long["token"] + "\n")
    assert r.returncode == 0 and long["token"] not in r.stdout + r.stderr
    assert sum(x["revoked"] for x in cli.ok("token", "list")) == 2
    cli.fails(1, "token", "revoke", "--token", "cvt1.forged")
    cli.fails(1, "token", "list", "--camera", "ghost")


def test_token_issued_by_the_local_administrator(house, cli):
    """Without --for, the CLI issues as the local administrator (admin.h)."""
    t = cli.ok("token", "issue", "--camera", "porch")
    assert t["token"].startswith("cvt1.") and t["camera"] == house["porch"]["id"]
    assert cli.ok("token", "list")[0]["login"] is None


# ----------------------------------------------------------------------- audit


def test_audit(house, cli):
    porch = house["porch"]
    cli.ok("token", "issue", "--camera", "porch", "--for", "alice")
    log = cli.ok("audit")
    assert isinstance(log, list) and len(log) >= 6
    for e in log:
        assert set(e) >= {"seq", "time", "event", "principal", "camera", "address", "protocol", "detail"}
    seqs = [e["seq"] for e in log]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    events = [e["event"] for e in log]
    for ev in ("user.add", "home.add", "camera.add", "token.issue"):
        assert ev in events, events
    assert all(e["principal"] == "cli" and e["protocol"] == "cli" for e in log)
    mine = cli.ok("audit", "--camera", "porch")
    assert mine and all(e["camera"] == porch["id"] for e in mine)
    assert [e["seq"] for e in cli.ok("audit", "--after", str(seqs[1]))] == seqs[2:]
    assert [e["seq"] for e in cli.ok("audit", "--limit", "2")] == seqs[:2]
    table = cli.text("audit")
    assert "SEQ" in table and "camera.add" in table
    cli.ok("camera", "remove", "porch")
    gone = cli.ok("audit", "--camera", porch["id"])  # a removed camera's history stays readable by id
    assert gone[-1]["event"] == "camera.remove"
    cli.fails(1, "audit", "--camera", "ghost")


# --------------------------------------------------------- names round-trip


@pytest.mark.parametrize("name", [
    "O'Brien\"; DROP TABLE cameras;--",
    "x' OR '1'='1",
    "a%_b",
    "Küche 🎥 – 客厅",
    "back\\slash",
])
def test_names_with_sql_metacharacters_and_unicode_round_trip(cli, name):
    cli.ok("user", "add", "o.brien@example.org")
    home = cli.ok("home", "add", name, "--owner", "o.brien@example.org")
    assert home["name"] == name
    decoy = cli.ok("camera", "add", "--name", "aXYb", "--home", name)  # would match a LIKE 'a%_b'
    cam = cli.ok("camera", "add", "--name", name, "--home", name, "--model", name[:60])
    assert cam["name"] == name and cam["home_name"] == name and cam["model"] == name[:60]
    assert [c["name"] for c in cli.ok("camera", "list", "--home", name)] == ["aXYb", name]
    assert name in cli.text("camera", "list")
    assert [h["name"] for h in cli.ok("home", "list")] == [name]
    tok = cli.ok("token", "issue", "--camera", name, "--for", "o.brien@example.org")
    assert tok["camera"] == cam["id"] and tok["camera_name"] == name
    g = cli.ok("grant", "add", "--camera", name, "--user", "o.brien@example.org", "--expires", "1h")
    assert g["camera_name"] == name
    assert cli.ok("camera", "remove", name)["removed"] == cam["id"]
    assert [c["id"] for c in cli.ok("camera", "list")] == [decoy["id"]]
    assert cli.ok("home", "remove", name)["removed"] == home["id"]
    assert cli.ok("home", "list") == []
    assert len(cli.ok("user", "list")) == 1  # nothing dropped


# ------------------------------------------------------------------- serve


def test_serve_without_users_says_how_to_create_the_first_admin(tmp_path, cli):
    def serve():
        return Proc([str(CAMVAULT), "serve", "--data", str(cli.data), "--rtsp-port", "0", "--http-port", "0"])

    p = serve()
    try:
        wait_for(lambda: re.search(r"\bready\b", p.text()), 20, "camvault serve to be ready")
        wait_for(lambda: "camvault user add NAME --admin" in p.text(), 5, "the first-admin hint")
        assert sum("camvault user add" in line for line in p.out) == 1
        p.p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0, p.text()[-2000:]
    finally:
        p.stop()
    cli.ok("user", "add", "root", "--admin")
    p = serve()
    try:
        wait_for(lambda: re.search(r"\bready\b", p.text()), 20, "camvault serve to be ready")
        time.sleep(0.3)
        assert "camvault user add" not in p.text()
        p.p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0, p.text()[-2000:]
    finally:
        p.stop()
