"""Spawning through the page and the API, the proxy, the kernel WebSocket, the sandbox."""

import json
import os
import re
import time
import urllib.parse

import pytest

import nbw
from conftest import token_of
from nbw import create_kernel, open_channels, run_in_new_kernel  # noqa: F401 (imported from here too)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# readiness must be noticed within 50 ms of the server accepting; allow 50 ms more for the
# monitor → hub → SSE hop and our own 2 ms probe interval
READY_LATENCY_MAX = 0.100


def socket_path(hub, user):
    return os.path.join(hub.state_dir, "run", user, "jupyter.sock")


def check_progress(events, user):
    assert events, "no progress events"
    assert all("progress" in e and "message" in e for e in events), events
    prog = [e["progress"] for e in events]
    assert prog == sorted(prog), f"progress went backwards: {prog}"
    last = events[-1]
    assert last.get("ready") is True, f"last progress event is not ready: {last}"
    assert not last.get("failed")
    assert last.get("url") == f"/user/{user}/", last
    return last


def test_spawn_through_page(hub):
    user, tok = hub.alice, token_of(hub, hub.alice)
    hub.stop_server(user, tok)  # a real spawn even if another test started it
    sess, r = hub.login(user)
    assert r.status_code == 302
    home = sess.get(hub.url + "/hub/home", allow_redirects=False)
    assert home.status_code == 200
    form = nbw.find_form(home.text, action_contains="/hub/spawn")
    assert form is not None, f"no start form posting to /hub/spawn on /hub/home:\n{home.text[:1500]}"
    assert form["method"] == "post" and form["inputs"].get("_xsrf"), form

    # a POST without _xsrf is refused and starts nothing
    r = sess.post(hub.url + "/hub/spawn", data={}, allow_redirects=False)
    assert r.status_code == 403
    m = hub.server_model(user, tok)
    assert not (m and (m.get("ready") or m.get("pending"))), f"refused spawn started a server: {m}"

    probe = nbw.ReadyProbe(socket_path(hub, user))
    probe.start()
    n_req = len(hub.audit_find("server.spawn.request", user=user))
    n_ready = len(hub.audit_find("server.ready", user=user))
    try:
        action = urllib.parse.urljoin(home.url, form["action"])
        r = sess.post(action, data=form["inputs"], allow_redirects=False)
        assert r.status_code == 302, f"POST /hub/spawn: {r.status_code} {r.text[:300]}"
        assert nbw.location_path(r)[1] == f"/hub/spawn-pending/{user}"
        pending = sess.get(hub.url + f"/hub/spawn-pending/{user}", allow_redirects=False)
        assert pending.status_code in (200, 302), pending.status_code
        if pending.status_code == 200:
            assert pending.headers.get("Content-Type", "").startswith("text/html")
            assert "progress" in pending.text.lower()
        events = hub.progress(user, sess=sess)
    finally:
        # Let the probe see the (now listening) socket even if it had no CPU
        # between the first accept and the ready event (a loaded CI machine):
        # it then records an accept *after* the ready event, which only means
        # nbwarden noticed first.
        probe.join(5)
        probe.stop()
        probe.join(5)
    last = check_progress(events, user)
    assert len(events) >= 2, f"expected a progress event per step, got {events}"
    m = hub.server_model(user, tok)
    assert m and m.get("ready") is True, m
    hub.wait_audit("server.spawn.request", user=user)
    hub.wait_audit("server.ready", user=user)
    assert len(hub.audit_find("server.spawn.request", user=user)) == n_req + 1
    assert len(hub.audit_find("server.ready", user=user)) == n_ready + 1
    # readiness latency: the SSE ready event followed the socket's first accept closely
    assert probe.first_accept is not None, \
        f"the server never accepted on {socket_path(hub, user)} (documented in sandbox.h)"
    latency = last["_t"] - probe.first_accept
    assert latency <= READY_LATENCY_MAX, f"ready reported {latency * 1000:.0f} ms after the server accepted"
    hub.jupyter_token(user)


def test_spawn_through_api(hub):
    user, tok = hub.bob, token_of(hub, hub.bob)
    hub.stop_server(user, tok)
    r = hub.api("POST", f"/users/{user}/server", token=tok, json={})  # an (empty) user-options body
    assert r.status_code in (201, 202), f"{r.status_code} {r.text[:300]}"
    if r.status_code == 202:
        events = hub.progress(user, token=tok)
        check_progress(events, user)
    m = hub.server_model(user, tok)
    assert m and m["ready"] is True and not m.get("pending"), m
    assert m["url"] == f"/user/{user}/"
    assert RFC3339.match(m["started"] or ""), m
    assert m.get("last_activity") is None or RFC3339.match(m["last_activity"]), m
    # progress on a running server: one ready event at once
    events = hub.progress(user, token=tok, timeout=10)
    check_progress(events, user)
    init, _ = hub.server_pids(user)
    assert init, "no running container for bob after spawn"
    # POST again while running: no second server (JupyterHub answers 400, or 201 for "already there")
    r = hub.api("POST", f"/users/{user}/server", token=tok)
    assert r.status_code in (201, 400), r.status_code
    assert hub.server_pids(user)[0] == init
    hub.jupyter_token(user)


def test_proxy_reaches_jupyter_with_token(hub, alice_server):
    tok = token_of(hub, hub.alice)
    r = nbw.requests.get(hub.url + f"/user/{hub.alice}/api/status",
                         headers={"Authorization": f"token {tok}"}, timeout=20, allow_redirects=False)
    assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
    assert "started" in r.json() and "kernels" in r.json()
    r = nbw.requests.get(hub.url + f"/user/{hub.alice}/api",
                         headers={"Authorization": f"token {tok}"}, timeout=20, allow_redirects=False)
    import jupyter_server
    assert r.status_code == 200 and r.json().get("version") == jupyter_server.__version__, r.text[:200]


def test_proxy_browser_flow(hub, alice_server, alice_browser):
    user = hub.alice
    target = hub.url + f"/user/{user}/api/status"
    r = alice_browser.get(target, allow_redirects=False)
    assert r.status_code == 302, f"first visit without the server cookie: {r.status_code}"
    netloc, path, query = nbw.location_path(r)
    assert path == "/hub/login"
    assert urllib.parse.parse_qs(query).get("next") == [f"/user/{user}/api/status"]
    r = alice_browser.get(target)
    assert r.status_code == 200, f"{r.status_code} after {[h.status_code for h in r.history]}"
    assert "started" in r.json()
    server_cookies = []
    for h in r.history:
        for raw in nbw.set_cookie_headers(h):
            c = nbw.parse_set_cookie(raw)
            if c[0] == "nbwarden-server":
                server_cookies.append(c)
    assert server_cookies, "no nbwarden-server cookie was set on the way"
    name, value, attrs = server_cookies[0]
    assert attrs.get("path") == f"/user/{user}/"
    assert attrs.get("httponly") is True
    assert str(attrs.get("samesite", "")).lower() == "lax"
    assert value != alice_browser.cookies.get("nbwarden-session")
    hub.note_cookies(alice_browser)
    # now the cookie works directly, no redirect
    r = alice_browser.get(target, allow_redirects=False)
    assert r.status_code == 200


def test_proxy_streams_large_bodies(hub, alice_server):
    """Bodies far above hub.max_body_bytes (64 KiB) pass through /user/ both ways, intact."""
    user, tok = hub.alice, token_of(hub, hub.alice)
    h = {"Authorization": f"token {tok}"}
    content = ("0123456789abcdef" * 65536 * 5)[: 5 * 1024 * 1024 - 7] + "\nend-e2e"  # ~5 MiB
    name = f"big-{nbw._secrets.token_hex(3)}.txt"
    r = nbw.requests.put(hub.url + f"/user/{user}/api/contents/{name}", headers=h, timeout=120,
                         json={"type": "file", "format": "text", "content": content})
    assert r.status_code in (200, 201), f"PUT 5 MiB through the proxy: {r.status_code} {r.text[:200]}"
    r = nbw.requests.get(hub.url + f"/user/{user}/api/contents/{name}", headers=h, params={"content": "1"},
                         timeout=120)
    assert r.status_code == 200
    assert r.json()["content"] == content, "the body came back altered"
    # it landed in the user's home on the host, owned by the sandbox's host uid
    host = os.path.join(hub.state_dir, "homes", user, name)
    assert os.path.isfile(host), f"{host} missing: home is not state_dir/homes/{user}"
    assert os.path.getsize(host) == len(content.encode())
    init, _ = hub.server_pids(user)
    assert os.stat(host).st_uid == int(nbw.proc_status(init)["Uid"].split()[0])
    nbw.requests.delete(hub.url + f"/user/{user}/api/contents/{name}", headers=h, timeout=30)


def test_activity_tracked(hub, alice_server):
    user, tok = hub.alice, token_of(hub, hub.alice)
    before = hub.server_model(user, tok)["last_activity"]
    time.sleep(1.1)  # last_activity has one-second resolution
    r = nbw.requests.get(hub.url + f"/user/{user}/api/status", headers={"Authorization": f"token {tok}"},
                         timeout=20)
    assert r.status_code == 200

    def advanced():
        m = hub.server_model(user, tok)
        return m["last_activity"] if m["last_activity"] and m["last_activity"] > (before or "") else None
    after = nbw.wait_until(advanced, 10, interval=0.2, what="server last_activity to advance after a request")
    assert RFC3339.match(after)


def test_jupyter_token_never_reaches_client(hub, alice_server, alice_browser):
    user = hub.alice
    jtok = hub.jupyter_token(user)
    assert jtok, "could not read the server's token (NBWARDEN_SERVER_TOKEN) from its environment"
    seen = []
    for path in ("api/status", "tree", "api/kernels", "api/sessions", "api/contents", "", "lab"):
        r = alice_browser.get(hub.url + f"/user/{user}/{path}")
        seen.append(r)
        seen.extend(r.history)
    for r in seen:
        blob = r.text + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        assert jtok not in blob, f"the Jupyter server's token reached the browser via {r.url}"
    # the server's own token is not a credential for the hub
    r = nbw.requests.get(hub.url + f"/user/{user}/api/status", headers={"Authorization": f"token {jtok}"},
                         timeout=20, allow_redirects=False)
    assert r.status_code == 403


def test_kernel_execute_with_cookies(hub, alice_server, alice_browser):
    user = hub.alice
    alice_browser.get(hub.url + f"/user/{user}/tree")  # browser flow: gets the server cookie
    hub.note_cookies(alice_browser)
    kid = create_kernel(hub, user, sess=alice_browser)
    cookie = hub.cookie_header(alice_browser, hub.url + f"/user/{user}/api/kernels/{kid}/channels")
    assert "nbwarden-server=" in cookie
    ws = open_channels(hub, user, kid, cookie=cookie, origin=hub.url)
    try:
        marker = nbw._secrets.token_hex(6)
        code = f"x = 6 * 7\nprint('e2e-{marker}', x)"
        out = nbw.run_cell(ws, code)
    finally:
        ws.close()
    assert out["error"] is None, out
    assert out["stdout"] == f"e2e-{marker} 42\n", out
    rec = hub.wait_audit("kernel.execute", code=code)[-1]
    assert rec["user"] == user and rec["server"] == user
    assert rec["kernel_id"] == kid and rec["msg_id"] == out["msg_id"]
    assert rec["code_len"] == len(code.encode()) and rec["code_sha256"] == nbw.sha256_hex(code)
    assert rec.get("ip") == "127.0.0.1"


def test_kernel_execute_with_token(hub, bob_server):
    user, tok = hub.bob, token_of(hub, hub.bob)
    kid = create_kernel(hub, user, token=tok)
    ws = open_channels(hub, user, kid, token=tok)
    try:
        out = nbw.run_cell(ws, "sum(range(10))")
        assert out["result"] == "45", out
        out2 = nbw.run_cell(ws, "print('hello from', __import__('os').getcwd())")
        assert out2["stdout"] == "hello from /home/jovyan\n", out2
    finally:
        ws.close()
    recs = hub.wait_audit("kernel.execute", user=user, kernel_id=kid, msg_id=out["msg_id"])
    assert recs[-1]["code"] == "sum(range(10))"


def test_audit_code_truncated_to_configured_size(hub, bob_server):
    user, tok = hub.bob, token_of(hub, hub.bob)
    kid = create_kernel(hub, user, token=tok)
    code = "# " + "y" * 600 + "\nprint('long cell ok')"
    ws = open_channels(hub, user, kid, token=tok)
    try:
        out = nbw.run_cell(ws, code)
    finally:
        ws.close()
    assert out["stdout"] == "long cell ok\n", out
    rec = hub.wait_audit("kernel.execute", user=user, msg_id=out["msg_id"])[-1]
    assert rec["code_len"] == len(code.encode())
    assert rec["code_sha256"] == nbw.sha256_hex(code)
    limit = hub.settings["audit"]["code_max_bytes"]
    recorded = rec.get("code")
    assert recorded is None or (len(recorded.encode()) <= limit and code.startswith(recorded)), \
        f"code recorded beyond audit.code_max_bytes={limit}: {len(recorded.encode())} bytes"


FACTS = r'''
import json, os
f = {}
f["uid"], f["gid"] = os.getuid(), os.getgid()
f["home"] = os.path.expanduser("~")
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
f["NoNewPrivs"], f["Seccomp"], f["CapEff"], f["CapBnd"] = st["NoNewPrivs"], st["Seccomp"], st["CapEff"], st["CapBnd"]
f["root"] = sorted(os.listdir("/"))
f["etc"] = sorted(os.listdir("/etc"))
f["home_dir"] = sorted(os.listdir("/home"))
f["net"] = sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else None
def can_write(p):
    try:
        with open(p, "w") as fh:
            fh.write("x")
        os.unlink(p)
        return True
    except OSError:
        return False
f["w_home"] = can_write("/home/jovyan/.e2e-probe")
f["w_tmp"] = can_write("/tmp/.e2e-probe")
f["w_usr"] = can_write("/usr/.e2e-probe")
f["w_etc"] = can_write("/etc/.e2e-probe")
f["root_readable"] = os.access("/root", os.R_OK) and bool(os.path.isdir("/root") and os.listdir("/root"))
f["var_lib_dpkg"] = os.path.exists("/var/lib/dpkg")
f["passwd"] = open("/etc/passwd").read()
f["env_secrets"] = sorted(k for k in os.environ if "TOKEN" in k.upper() or "SECRET" in k.upper())
import stat
try:
    f["kcore"] = stat.S_ISREG(os.stat("/proc/kcore").st_mode)  # masked: /dev/null bind-mounted over it
except OSError:
    f["kcore"] = False
print(json.dumps(f))
'''


def test_sandbox_from_inside(hub, bob_server):
    user, tok = hub.bob, token_of(hub, hub.bob)
    out = run_in_new_kernel(hub, user, FACTS, token=tok)
    assert out["error"] is None, out
    f = json.loads(out["stdout"])
    problems = []
    if f["uid"] != 1000:
        problems.append(f"uid inside is {f['uid']}, want 1000")
    if f["home"] != "/home/jovyan":
        problems.append(f"home is {f['home']}")
    if f["NoNewPrivs"] != "1":
        problems.append("no_new_privs not set")
    if f["Seccomp"] != "2":
        problems.append(f"seccomp mode {f['Seccomp']}, want 2 (filter)")
    if int(f["CapEff"], 16) != 0 or int(f["CapBnd"], 16) != 0:
        problems.append(f"capabilities left: CapEff={f['CapEff']} CapBnd={f['CapBnd']}")
    if f["net"] is not None and f["net"] != ["lo"]:
        problems.append(f"network interfaces {f['net']}, want only lo")
    if not f["w_home"]:
        problems.append("home not writable")
    if not f["w_tmp"]:
        problems.append("/tmp not writable")
    if f["w_usr"] or f["w_etc"]:
        problems.append(f"root fs writable: /usr {f['w_usr']}, /etc {f['w_etc']}")
    if f["root_readable"]:
        problems.append("host /root visible")
    if f["var_lib_dpkg"]:
        problems.append("host /var visible")
    if f["home_dir"] != ["jovyan"]:
        problems.append(f"/home holds {f['home_dir']}")
    for host_only in ("shadow", "gshadow", "machine-id", "sudoers", "ssh"):
        if host_only in f["etc"]:
            problems.append(f"/etc/{host_only} present: /etc is not the minimal generated one")
    if "1000" not in f["passwd"]:
        problems.append("sandbox user missing from /etc/passwd")
    if "root:x:0:0" in f["passwd"] and len(f["passwd"].splitlines()) > 5:
        problems.append("/etc/passwd looks like the host's")
    if f["env_secrets"]:
        problems.append(f"the kernel inherited secrets from the server's environment: {f['env_secrets']}")
    if f["kcore"]:
        problems.append("/proc/kcore readable (masked paths missing)")
    assert not problems, "; ".join(problems)


BREAKOUT = r'''
import json, os, socket
r = {}
r["state_dir_visible"] = os.path.exists(STATE_DIR)
r["other_home_visible"] = os.path.exists(OTHER_HOME)
r["tmp_e2e_visible"] = [n for n in os.listdir("/tmp") if n.startswith("nbw-e2e")]
def reach(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(addr)
        return True
    except OSError:
        return False
    finally:
        s.close()
r["hub_port"] = reach(("127.0.0.1", HUB_PORT))
r["runc_root_visible"] = os.path.exists("/run/nbwarden/runc")
print(json.dumps(r))
'''


def test_sandbox_cannot_see_host_or_other_users(hub, alice_server, bob_server):
    user, tok = hub.bob, token_of(hub, hub.bob)
    code = (BREAKOUT.replace("STATE_DIR", repr(hub.state_dir))
            .replace("OTHER_HOME", repr(os.path.join(hub.state_dir, "homes", hub.alice)))
            .replace("HUB_PORT", str(hub.port)))
    out = run_in_new_kernel(hub, user, code, token=tok)
    assert out["error"] is None, out
    r = json.loads(out["stdout"])
    assert r == {"state_dir_visible": False, "other_home_visible": False, "tmp_e2e_visible": [],
                 "hub_port": False, "runc_root_visible": False}, r


def cgroup_file(pid, controller, name):
    with open(f"/proc/{pid}/cgroup") as fh:
        for line in fh:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                p = os.path.join(nbw.CGROUP_ROOT, controller, path.lstrip("/"), name)
                with open(p) as f2:
                    return f2.read().strip()
    raise AssertionError(f"process {pid} is in no {controller} cgroup")


def test_sandbox_from_outside(hub, alice_server, bob_server):
    facts = {}
    for user in (hub.alice, hub.bob):
        init, pids = hub.server_pids(user)
        assert init, f"no container for {user}"
        st = nbw.proc_status(init)
        uids = [int(x) for x in st["Uid"].split()]
        assert len(set(uids)) == 1, st["Uid"]
        assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
        assert int(st["CapEff"], 16) == 0
        assert os.readlink(f"/proc/{init}/ns/net") != os.readlink("/proc/self/ns/net"), "shares the host netns"
        assert os.readlink(f"/proc/{init}/ns/user") != os.readlink("/proc/self/ns/user"), "no user namespace"
        with open(f"/proc/{init}/uid_map") as fh:
            umap = [tuple(int(x) for x in l.split()) for l in fh if l.strip()]
        facts[user] = (uids[0], umap)
        mem = int(cgroup_file(init, "memory", "memory.limit_in_bytes"))
        assert mem == 1 << 30, f"memory limit {mem}"
        pids_max = cgroup_file(init, "pids", "pids.max")
        assert pids_max == "300", f"pids.max {pids_max}"
        quota = int(cgroup_file(init, "cpu", "cpu.cfs_quota_us"))
        period = int(cgroup_file(init, "cpu", "cpu.cfs_period_us"))
        assert quota > 0 and abs(quota / period - 1.0) < 0.01, f"cpu quota {quota}/{period}"
        bundle_cfg = os.path.join(hub.state_dir, "bundles", user, "config.json")
        bs = os.stat(bundle_cfg)
        assert bs.st_mode & 0o004 == 0, \
            f"{bundle_cfg} carries the server token in process.env and is world-readable ({oct(bs.st_mode)})"
        sock = socket_path(hub, user)
        ss = os.stat(sock)
        assert ss.st_mode & 0o007 == 0, f"{sock} is accessible by others: {oct(ss.st_mode)}"
        rd = os.stat(os.path.dirname(sock))
        assert rd.st_mode & 0o007 == 0, f"run dir mode {oct(rd.st_mode)}"
    (ua, ma), (ub, mb) = facts[hub.alice], facts[hub.bob]
    lo, hi = hub.host_uid_base, hub.host_uid_base + nbw.MAX_SLOTS * nbw.UID_RANGE
    for u, m in ((ua, ma), (ub, mb)):
        assert lo <= u < hi, f"host uid {u} outside the hostUidBase ranges [{lo}, {hi})"
        for inside, outside, count in m:
            assert lo <= outside and outside + count <= hi, f"uid_map {m} maps outside our ranges"
    ranges_a = [(o, o + c) for _, o, c in ma]
    ranges_b = [(o, o + c) for _, o, c in mb]
    for a0, a1 in ranges_a:
        for b0, b1 in ranges_b:
            assert a1 <= b0 or b1 <= a0, f"host uid ranges of alice {ranges_a} and bob {ranges_b} overlap"
    assert ua != ub
