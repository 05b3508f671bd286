"""A flood of logins must not freeze the hub: argon2id runs off the event loop, a few at a time,
failed logins are throttled per client address and per user name (429 + Retry-After), and the
login form's XSRF cookie must be one the hub issued. Audit records of failed logins name the user
only when the typed name is a valid user name.

Clients use different loopback source addresses (127.0.0.x) to stand for different machines."""

import http.client
import json
import re
import threading
import time
import urllib.parse

import pytest

import nbw


class Client:
    """A minimal HTTP client with a chosen source address (requests cannot bind one)."""

    def __init__(self, d, src):
        self.d, self.src = d, src

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=timeout, source_address=(self.src, 0))
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.getheaders(), r.read().decode("utf-8", "replace")
        finally:
            c.close()

    def login_form(self):
        st, headers, text = self.request("GET", "/hub/login")
        assert st == 200, st
        cookie = None
        for k, v in headers:
            if k.lower() == "set-cookie" and v.startswith("_xsrf="):
                cookie = v.split(";")[0].split("=", 1)[1]
        form = nbw.find_form(text, field="password")
        assert cookie and form["inputs"]["_xsrf"] == cookie
        return cookie

    def login(self, user, password, xsrf, field=None):
        body = urllib.parse.urlencode({"_xsrf": xsrf if field is None else field, "username": user,
                                       "password": password})
        return self.request("POST", "/hub/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf}"})


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


@pytest.fixture(scope="module")
def flood_daemon(request):
    import conftest
    d = conftest.new_daemon("flood")
    tag = nbw.run_tag()
    d.victim, d.runner = f"victim-{tag}", f"runner-{tag}"
    d.write_config()
    try:
        d.start()
        d.add_user(d.victim)
        d.add_user(d.runner)
        d.users[d.runner]["token"] = d.issue_token(d.runner)
    except BaseException:
        d.kill_everything()
        raise
    yield d
    problems = conftest.finish_daemon(d)
    if problems:
        pytest.fail("flood daemon teardown:\n  " + "\n  ".join(problems))


def test_login_xsrf_cookie_must_be_issued_by_hub(flood_daemon):
    d = flood_daemon
    c = Client(d, "127.0.0.10")
    forged = "A" * 43  # the shape the hub used to accept: any value, as long as cookie == field
    st, _, _ = c.login(d.runner, d.users[d.runner]["password"], forged)
    assert st == 403, f"a login with a self-made _xsrf cookie: {st}"
    good = c.login_form()
    st, _, _ = c.login(d.runner, d.users[d.runner]["password"], good, field=good[:-1] + ("A" if good[-1] != "A" else "B"))
    assert st == 403
    tampered = re.sub(r"^v1\.(\d+)\.", lambda m: f"v1.{int(m.group(1)) + 1}.", good)
    assert tampered != good
    st, _, _ = c.login(d.runner, d.users[d.runner]["password"], tampered)
    assert st == 403
    st, _, _ = c.login(d.runner, d.users[d.runner]["password"], good)
    assert st == 302


def test_failed_logins_throttled_per_name(flood_daemon):
    d = flood_daemon
    a, b = Client(d, "127.0.0.11"), Client(d, "127.0.0.12")
    xa, xb = a.login_form(), b.login_form()
    for i in range(5):
        st, _, _ = a.login(d.victim, f"wrong-{i}-password", xa)
        assert st == 403, (i, st)
    # now even the right password waits, from any address
    for cl, x in ((a, xa), (b, xb)):
        st, headers, text = cl.login(d.victim, d.users[d.victim]["password"], x)
        assert st == 429, st
        assert int(header(headers, "Retry-After")) >= 1
        assert "nbwarden-session" not in (header(headers, "Set-Cookie") or "")
    rec = d.wait_audit("auth.login.failure", user=d.victim, reason="throttled")
    assert {r["ip"] for r in rec} <= {"127.0.0.11", "127.0.0.12"}
    # the address itself is not blocked: another user signs in from it
    st, _, _ = a.login(d.runner, d.users[d.runner]["password"], xa)
    assert st == 302, st


def test_login_flood_does_not_freeze_hub(flood_daemon):
    d = flood_daemon
    tok = d.users[d.runner]["token"]
    d.ensure_server(d.runner, tok)
    auth = {"Authorization": f"token {tok}"}
    url = d.url + f"/user/{d.runner}/api/status"
    assert nbw.requests.get(url, headers=auth, timeout=20).status_code == 200

    flood = Client(d, "127.0.0.20")
    xsrf = flood.login_form()
    stop = threading.Event()
    statuses, retry_after, errors = [], [], []

    def attacker(n):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                st, headers, _ = flood.login(f"nobody{n}x{i}", f"guess-{n}-{i}-password", xsrf)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
                continue
            statuses.append(st)
            if st == 429:
                retry_after.append(header(headers, "Retry-After"))

    threads = [threading.Thread(target=attacker, args=(n,), daemon=True) for n in range(24)]
    for t in threads:
        t.start()
    latencies = []
    try:
        time.sleep(0.3)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            r = nbw.requests.get(url, headers=auth, timeout=20)
            latencies.append(time.monotonic() - t0)
            assert r.status_code == 200, r.status_code
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    assert max(latencies) < 1.0, f"proxied request latencies during the flood: {sorted(latencies)[-5:]}"
    assert set(statuses) <= {403, 429}, set(statuses)
    assert statuses.count(429) > 0 and all(ra and int(ra) >= 1 for ra in retry_after)
    # far fewer password checks than attempts: the per-address throttle stopped the rest
    assert statuses.count(403) <= 20 + 2 + 16, statuses.count(403)
    recs = [r for r in d.audit_find("auth.login.failure") if r.get("ip") == "127.0.0.20"]
    assert any(str(r.get("reason", "")).startswith("throttled") for r in recs)
    assert len(recs) < len(statuses), "every throttled attempt became an audit record"
    # other clients still sign in
    other = Client(d, "127.0.0.21")
    st, _, _ = other.login(d.runner, d.users[d.runner]["password"], other.login_form())
    assert st == 302, st


def test_login_failure_audit_names_only_valid_users(flood_daemon):
    d = flood_daemon
    c = Client(d, "127.0.0.30")
    x = c.login_form()
    typed = "Tr0ub4dor&3 " + nbw._secrets.token_urlsafe(6)  # a password typed into the name field
    d.add_secret("a password typed as user name", typed)
    n = len(d.audit_find("auth.login.failure"))
    st, _, _ = c.login(typed, "whatever-password", x)
    assert st == 403
    nbw.wait_until(lambda: len(d.audit_find("auth.login.failure")) > n, 10, what="auth.login.failure")
    rec = d.audit_find("auth.login.failure")[-1]
    assert rec.get("user") in (None, ""), rec
    assert rec.get("ip") == "127.0.0.30"
    with open(d.audit_file) as f:
        text = f.read()
    assert typed not in text and "tr0ub4dor" not in text.lower()
    assert "tr0ub4dor" not in (d.stderr_text() + d.stdout_text()).lower()
    # a valid name after trimming and lower-casing is recorded as such
    st, _, _ = c.login(f"  {d.runner.upper()} ", "wrong-password-here", x)
    assert st == 403
    d.wait_audit("auth.login.failure", user=d.runner, reason="invalid credentials")
    # the same for a refused form (XSRF)
    st, _, _ = c.login(typed, "whatever-password", "A" * 43)
    assert st == 403
    nbw.wait_until(lambda: any(r.get("reason") == "XSRF check failed" for r in d.audit_find("auth.login.failure")),
                   10, what="XSRF failure record")
    assert all(r.get("user") in (None, "", d.runner) for r in d.audit_find("auth.login.failure")
               if r.get("ip") == "127.0.0.30")
    assert "tr0ub4dor" not in open(d.audit_file).read().lower()


def test_kernel_execute_records_carry_message_type(flood_daemon):
    """Not about logins: kernel.execute records name the kernel message type (the exec tap
    reports execute_request and debug_request)."""
    import uuid
    from test_40_spawn import create_kernel, open_channels
    d = flood_daemon
    user, tok = d.runner, d.users[d.runner]["token"]
    d.ensure_server(user, tok)
    kid = create_kernel(d, user, token=tok)
    ws = open_channels(d, user, kid, token=tok)
    try:
        out = nbw.run_cell(ws, "print(6 * 7)")
        msg_id = uuid.uuid4().hex
        content = {"seq": 1, "type": "request", "command": "evaluate",
                   "arguments": {"expression": "1 + 1", "context": "repl"}}
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "e2e", "session": uuid.uuid4().hex,
                       "msg_type": "debug_request", "version": "5.3",
                       "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())},
            "parent_header": {}, "metadata": {}, "content": content, "channel": "control", "buffers": []}))
    finally:
        ws.close()
    rec = d.wait_audit("kernel.execute", kernel_id=kid, msg_id=out["msg_id"])[-1]
    assert rec["msg_type"] == "execute_request", rec
    rec = d.wait_audit("kernel.execute", kernel_id=kid, msg_id=msg_id)[-1]
    assert rec["msg_type"] == "debug_request", rec
