"""camvault integration add|list|disable|enable|remove, on the data directory
of a running server: the client secret is printed once and never again (not
listed, not audited, not in the database in the clear), redirect URIs are
checked, the kill switch is reversible, and every change is audited."""
import json
import subprocess

import pytest

from conftest import CAMVAULT, SLOW

REDIR = "https://partner.example/oauth/cb"


def run(srv, *args, json_out=False):
    cmd = [str(CAMVAULT), *args, "--data", str(srv.data_dir)]
    if json_out:
        cmd.append("--json")
    return subprocess.run(cmd, capture_output=True, text=True, input="", timeout=60 * SLOW)


def ok(srv, *args):
    r = run(srv, *args, json_out=True)
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


def stored_bytes(srv):
    return b"".join(p.read_bytes() for p in srv.data_dir.iterdir() if p.name.startswith("camvault.db"))


def audit_events(srv):
    return [e for e in ok(srv, "audit") if e["event"].startswith("integration.")]


def test_add_prints_secret_once(server):
    srv = server()
    r = run(srv, "integration", "add", "google", "--redirect-uri", REDIR, "--redirect-uri",
            "http://127.0.0.1:9000/cb")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    client_id = out.split("client id:")[1].split()[0]
    secret = out.split("client secret:")[1].split()[0]
    assert client_id.startswith("cvc_") and secret.startswith("cvs_") and len(secret) == 47
    assert "only this once" in out

    added = ok(srv, "integration", "add", "alexa", "--redirect-uri", "http://localhost/cb")
    assert added["name"] == "alexa" and added["client_secret"].startswith("cvs_")
    assert added["redirect_uris"] == ["http://localhost/cb"]
    assert len(added["id"]) == 32 and added["disabled"] is False

    listed = ok(srv, "integration", "list")
    assert [i["name"] for i in listed] == ["alexa", "google"]
    google = listed[1]
    assert google["client_id"] == client_id
    assert google["redirect_uris"] == [REDIR, "http://127.0.0.1:9000/cb"]
    assert "client_secret" not in google
    table = run(srv, "integration", "list").stdout
    # never again: not listed, not audited, not stored in the clear
    for shown in (json.dumps(listed), table, run(srv, "audit").stdout, json.dumps(ok(srv, "audit"))):
        assert secret not in shown and added["client_secret"] not in shown
        assert secret[4:] not in shown
    blobs = stored_bytes(srv)
    for s in (secret, added["client_secret"]):
        assert s[4:].encode() not in blobs
    assert client_id.encode() in blobs  # public

    r = run(srv, "integration", "add", "google", "--redirect-uri", REDIR)
    assert r.returncode == 1 and "exists" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("uri", [
    "http://partner.example/cb",          # plain http off loopback
    "https://partner.example/cb#frag",    # fragment
    "ftp://partner.example/cb",
    "/relative/cb",
    "https://",
    "http://localhost.evil.example/cb",
    "https://partner.example/a b",
    "",
])
def test_bad_redirect_uris_refused(server, uri):
    srv = server()
    r = run(srv, "integration", "add", "p", "--redirect-uri", REDIR, "--redirect-uri", uri)
    assert r.returncode == 2, (uri, r.stdout, r.stderr)
    assert "redirect URI" in r.stderr and "https://" in r.stderr
    assert ok(srv, "integration", "list") == []


@pytest.mark.parametrize("code,args", [
    (2, ["integration"]),
    (2, ["integration", "frobnicate"]),
    (2, ["integration", "add", "p"]),                               # --redirect-uri missing
    (2, ["integration", "add", "--redirect-uri", REDIR]),           # NAME missing
    (2, ["integration", "list", "extra"]),
    (2, ["integration", "remove", "p", "--camera-model", "x"]),
    (2, ["integration", "disable"]),
    (2, ["integration", "disable", "p", "--redirect-uri", REDIR]),
    (2, ["integration", "disable", "p", "--camera-model", ""]),
    (1, ["integration", "add", "bad name", "--redirect-uri", REDIR]),
    (1, ["integration", "enable", "nope"]),
])
def test_usage_errors(server, code, args):
    srv = server()
    ok(srv, "integration", "add", "p", "--redirect-uri", REDIR)
    r = run(srv, *args)
    assert r.returncode == code and r.stderr.strip(), (args, r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    if code == 1:
        assert r.stdout == ""


def test_help():
    r = subprocess.run([str(CAMVAULT), "integration", "--help"], capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 0 and "usage" in r.stdout and "--camera-model" in r.stdout
    r = subprocess.run([str(CAMVAULT), "--help"], capture_output=True, text=True, timeout=30 * SLOW)
    assert "integration" in r.stdout


def test_disable_enable_remove_audited(server):
    srv = server()
    ok(srv, "integration", "add", "google", "--redirect-uri", REDIR)

    got = ok(srv, "integration", "disable", "google", "--camera-model", "CamPro 2")
    assert got["disabled"] is False and got["disabled_models"] == ["CamPro 2"]
    got = ok(srv, "integration", "disable", "google")
    assert got["disabled"] is True
    r = run(srv, "integration", "list")
    assert "DISABLED" in r.stdout
    got = ok(srv, "integration", "enable", "google", "--camera-model", "CamPro 2")
    assert got["disabled"] is True and got["disabled_models"] == []
    got = ok(srv, "integration", "disable", "google", "--camera-model", "CamPro 3")
    got = ok(srv, "integration", "enable", "google")
    assert got["disabled"] is False and got["disabled_models"] == []
    assert ok(srv, "integration", "list")[0]["disabled"] is False

    r = run(srv, "integration", "disable", "nope")
    assert r.returncode == 1 and "no integration 'nope'" in r.stderr

    removed = ok(srv, "integration", "remove", "google")
    assert removed["name"] == "google" and len(removed["removed"]) == 32
    assert ok(srv, "integration", "list") == []
    r = run(srv, "integration", "remove", "google")
    assert r.returncode == 1 and "no integration" in r.stderr
    # the name can be used again, with a new client id
    again = ok(srv, "integration", "add", "google", "--redirect-uri", REDIR)
    assert again["id"] != removed["removed"]

    events = [(e["event"], e["detail"], e["principal"], e["protocol"]) for e in audit_events(srv)]
    kinds = [e[0] for e in events]
    assert kinds == ["integration.add", "integration.disable", "integration.disable", "integration.enable",
                     "integration.disable", "integration.enable", "integration.remove", "integration.add"]
    assert "camera_model=CamPro 2" in events[1][1]
    assert all(e[2] == "cli" and e[3] == "cli" for e in events)
    assert all("name=google" in e[1] for e in events)
    # the server keeps running on the migrated store
    assert srv.alive()
