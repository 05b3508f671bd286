"""The audit log: format, the events of issue 2, no secrets; stopping a server through the API."""

import os
import re

import nbw
from conftest import token_of

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_audit_records_well_formed(hub, alice_server):
    recs = hub.audit_records()
    assert recs, "audit log is empty"
    for r in recs:
        assert isinstance(r, dict)
        assert TS.match(r.get("ts", "")), f"ts not RFC 3339 UTC: {r}"
        assert isinstance(r.get("event"), str) and r["event"], r
        assert "user" in r and "ip" in r, f"record without user/ip: {r}"
    ts = [r["ts"] for r in recs]
    assert ts == sorted(ts), "audit records out of time order"
    st = os.stat(hub.audit_file)
    assert st.st_uid == 0 and st.st_mode & 0o022 == 0, f"audit file owner/mode {st.st_uid} {oct(st.st_mode)}"


def test_audit_login_logout_events(hub):
    user = hub.alice
    n_ok = len(hub.audit_find("auth.login.success", user=user))
    n_fail = len(hub.audit_find("auth.login.failure", user=user))
    n_out = len(hub.audit_find("auth.logout", user=user))
    wrong = "Nope-" + nbw._secrets.token_urlsafe(10)
    hub.add_secret("a wrong password", wrong)
    _, r = hub.login(user, password=wrong)
    assert r.status_code == 403
    sess, r = hub.login(user)
    assert r.status_code == 302
    r = sess.post(hub.url + "/hub/logout", data={"_xsrf": hub.xsrf_from(sess)}, allow_redirects=False)
    assert r.status_code in (200, 302, 303)
    nbw.wait_until(lambda: len(hub.audit_find("auth.logout", user=user)) == n_out + 1, 10,
                   what="auth.logout record")
    assert len(hub.audit_find("auth.login.success", user=user)) == n_ok + 1
    assert len(hub.audit_find("auth.login.failure", user=user)) == n_fail + 1
    for ev in ("auth.login.success", "auth.login.failure", "auth.logout"):
        assert hub.audit_find(ev, user=user)[-1].get("ip") == "127.0.0.1", ev


def test_audit_ip_not_spoofable(hub):
    """No trusted front proxy is configured: X-Forwarded-For / X-Real-IP must not change the audited ip."""
    wrong = "Spoof-" + nbw._secrets.token_urlsafe(10)
    hub.add_secret("a wrong password", wrong)
    sess = hub.browser()
    sess.headers.update({"X-Forwarded-For": "203.0.113.66", "X-Real-IP": "203.0.113.66",
                         "Forwarded": "for=203.0.113.66"})
    n = len(hub.audit_find("auth.login.failure", user=hub.bob))
    _, r = hub.login(hub.bob, password=wrong, sess=sess)
    assert r.status_code == 403
    nbw.wait_until(lambda: len(hub.audit_find("auth.login.failure", user=hub.bob)) == n + 1, 10,
                   what="auth.login.failure")
    assert hub.audit_find("auth.login.failure", user=hub.bob)[-1]["ip"] == "127.0.0.1"


def test_audit_token_issue(hub):
    for u in (hub.alice, hub.bob, hub.admin):
        assert hub.audit_find("token.issue", user=u), f"no token.issue for {u}"


def test_audit_spawn_events(hub, alice_server, bob_server):
    for u in (hub.alice, hub.bob):
        req = hub.audit_find("server.spawn.request", user=u)
        ready = hub.audit_find("server.ready", user=u)
        assert req and ready, f"{u}: spawn.request {len(req)}, ready {len(ready)}"
        assert req[-1]["ts"] <= ready[-1]["ts"]


def test_audit_kernel_execute(hub, alice_server):
    from test_40_spawn import create_kernel, open_channels
    user, tok = hub.alice, token_of(hub, hub.alice)
    kid = create_kernel(hub, user, token=tok)
    ws = open_channels(hub, user, kid, token=tok)
    code = f"print('audit-{nbw._secrets.token_hex(4)}')"
    try:
        out = nbw.run_cell(ws, code)
    finally:
        ws.close()
    assert out["stdout"].startswith("audit-")
    rec = hub.wait_audit("kernel.execute", msg_id=out["msg_id"])[-1]
    assert rec == {**rec, "user": user, "server": user, "kernel_id": kid, "code": code,
                   "code_len": len(code), "code_sha256": nbw.sha256_hex(code)}, rec


def test_stop_server_through_api(hub, bob_server):
    user, tok = hub.bob, token_of(hub, hub.bob)
    init, pids = hub.server_pids(user)
    assert init
    starts = {p: nbw.proc_starttime(p) for p in pids}
    n_stop = len(hub.audit_find("server.stop", user=user))
    r = hub.api("DELETE", f"/users/{user}/server", token=tok)
    assert r.status_code in (202, 204), f"{r.status_code} {r.text[:300]}"
    nbw.wait_until(lambda: not (lambda m: m and (m.get("ready") or m.get("pending")))(hub.server_model(user, tok)),
                   60, interval=0.1, what="server stopped")
    nbw.wait_until(lambda: not any(nbw.pid_alive(p, s) for p, s in starts.items()), 30,
                   what="the server's processes gone")
    assert not hub.user_containers(user), "container left after stop"
    hub.wait_audit("server.stop", user=user)
    assert len(hub.audit_find("server.stop", user=user)) == n_stop + 1
    left = [d for d in nbw.cgroup_dirs() if user in os.path.basename(d)]
    assert not left, f"cgroups left after stop: {left}"
    assert not os.path.exists(os.path.join(hub.state_dir, "bundles", user)), "bundle left after stop"
    assert os.path.isdir(os.path.join(hub.state_dir, "homes", user)), "home must be kept across stops"
    r = nbw.requests.get(hub.url + f"/user/{user}/api/status", headers={"Authorization": f"token {tok}"},
                         timeout=20, allow_redirects=False)
    assert r.status_code != 200, "a stopped server still answers through the proxy"
    assert r.status_code < 500 or r.status_code in (502, 503), r.status_code


def test_stop_through_page(hub, alice_server):
    user, tok = hub.alice, token_of(hub, hub.alice)
    sess, r = hub.login(user)
    assert r.status_code == 302
    home = sess.get(hub.url + "/hub/home", allow_redirects=False)
    form = nbw.find_form(home.text, action_contains="/hub/stop")
    assert form is not None, f"no stop form on /hub/home while the server runs:\n{home.text[:1500]}"
    n_stop = len(hub.audit_find("server.stop", user=user))
    r = sess.post(hub.url + "/hub/stop", data={}, allow_redirects=False)
    assert r.status_code == 403, "stop form without _xsrf accepted"
    assert hub.server_model(user, tok)["ready"] is True
    import urllib.parse
    r = sess.post(urllib.parse.urljoin(home.url, form["action"]), data=form["inputs"], allow_redirects=False)
    assert r.status_code in (302, 303), r.status_code
    nbw.wait_until(lambda: not (lambda m: m and (m.get("ready") or m.get("pending")))(hub.server_model(user, tok)),
                   60, interval=0.1, what="server stopped from the page")
    hub.wait_audit("server.stop", user=user)
    assert len(hub.audit_find("server.stop", user=user)) == n_stop + 1
    assert not hub.user_containers(user)


def test_no_secret_in_audit_or_daemon_output(hub, alice_server):
    hub.jupyter_token(hub.alice)
    labels = {l for l, _ in hub.secrets}
    assert any(l.startswith("password") for l in labels)
    assert any(l.startswith("token") for l in labels)
    assert any(l.startswith("cookie nbwarden-session") for l in labels)
    leaks = hub.secret_leaks()
    assert not leaks, "; ".join(leaks)


def test_hub_database_holds_no_plain_secrets(hub):
    blobs = b""
    for root, _dirs, files in os.walk(os.path.join(hub.state_dir, "hub")):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                blobs += fh.read()
    assert blobs, "no hub database under state_dir/hub"
    for label, value in hub.secrets:
        if label.startswith("Jupyter token"):
            continue  # the server tokens are nbwarden's own secrets; where it keeps them is its business
        assert value.encode() not in blobs, f"{label} stored in clear in state_dir/hub"
