"""Processes, login form, session cookies, XSRF, logout, redirect targets."""

import os
import re
import urllib.parse

import pytest

import nbw


def test_prints_url_when_listening(hub):
    out = hub.stdout_text() + hub.stderr_text()
    assert f"http://127.0.0.1:{hub.port}/" in out, f"serve did not print its URL:\n{out[-2000:]}"


def test_processes_monitor_root_hub_unprivileged(hub):
    mon = nbw.proc_status(hub.monitor_pid)
    assert mon["Uid"].split()[0] == "0", "the monitor (serve pid) must run as root"
    hubs = hub.hub_pids()
    assert len(hubs) == 1, f"expected one nbwarden-hub child of the monitor, found {hubs}: " + \
        repr([nbw.proc_cmdline(c) for c in nbw.children(hub.monitor_pid)])
    st = nbw.proc_status(hubs[0])
    cl = nbw.proc_cmdline(hubs[0])
    assert os.path.basename(cl[0]) == "nbwarden-hub" and "serve" in cl, cl
    assert st["Uid"].split() == [str(nbw.HUB_UID_DEFAULT)] * 4, f"hub Uid: {st['Uid']}"
    assert st["Gid"].split() == [str(nbw.HUB_UID_DEFAULT)] * 4, f"hub Gid: {st['Gid']}"
    assert st.get("Groups", "") == "", f"hub keeps supplementary groups: {st.get('Groups')}"
    assert st["NoNewPrivs"] == "1"
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(st[cap], 16) == 0, f"hub {cap} = {st[cap]}"


def test_login_page(hub):
    s = hub.browser()
    r = s.get(hub.url + "/hub/login")
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/html")
    form = nbw.find_form(r.text, field="password")
    assert form is not None, r.text[:1000]
    assert form["method"] == "post"
    assert {"username", "password", "_xsrf"} <= set(form["inputs"]), form
    assert form["inputs"]["_xsrf"], "empty _xsrf value"
    assert "_xsrf" in s.cookies, "no _xsrf cookie with the login form"
    assert r.headers.get("X-Frame-Options", "").upper() == "DENY"
    assert "Content-Security-Policy" in r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff"


def test_login_success_sets_session_cookie(hub):
    sess, r = hub.login(hub.alice)
    assert r.status_code == 302, f"{r.status_code} {r.text[:300]}"
    assert nbw.location_path(r)[1] == "/hub/home"
    cookies = [nbw.parse_set_cookie(h) for h in nbw.set_cookie_headers(r)]
    sc = [c for c in cookies if c[0] == "nbwarden-session"]
    assert sc, f"no nbwarden-session cookie in {nbw.set_cookie_headers(r)}"
    name, value, attrs = sc[0]
    assert len(value) >= 32, "session cookie value too short to be random"
    assert attrs.get("httponly") is True
    assert str(attrs.get("samesite", "")).lower() == "lax"
    assert attrs.get("path") == "/hub/"
    assert "secure" not in attrs, "Secure on a plain-http bind_url would break login"
    home = sess.get(hub.url + "/hub/home", allow_redirects=False)
    assert home.status_code == 200
    assert hub.alice in home.text
    rec = hub.wait_audit("auth.login.success", user=hub.alice)
    assert rec[-1].get("ip") == "127.0.0.1"


def test_session_cookies_are_random(hub):
    a, _ = hub.login(hub.alice)
    b, _ = hub.login(hub.alice)
    assert a.cookies.get("nbwarden-session") != b.cookies.get("nbwarden-session")


def test_login_wrong_password(hub):
    wrong = "Wr0ng-" + nbw._secrets.token_urlsafe(12)
    hub.add_secret("a wrong password", wrong)
    n = len(hub.audit_find("auth.login.failure", user=hub.alice))
    sess, r = hub.login(hub.alice, password=wrong)
    assert r.status_code == 403, f"{r.status_code}"
    assert "nbwarden-session" not in sess.cookies
    assert r.headers.get("Content-Type", "").startswith("text/html")
    recs = hub.wait_audit("auth.login.failure", user=hub.alice)
    assert len(recs) == n + 1


def test_login_unknown_user(hub):
    sess, r = hub.login("nosuchuser", password="whatever-password")
    assert r.status_code == 403
    assert "nbwarden-session" not in sess.cookies
    hub.wait_audit("auth.login.failure", user="nosuchuser")


def _post_login_raw(hub, sess, data, headers=None):
    return sess.post(hub.url + "/hub/login", data=data, headers=headers or {}, allow_redirects=False)


@pytest.mark.parametrize("variant", ["missing", "empty", "wrong", "no-cors-missing"])
def test_login_without_valid_xsrf_refused(hub, variant):
    sess = hub.browser()
    page = sess.get(hub.url + "/hub/login")
    form = nbw.find_form(page.text, field="password")
    data = {"username": hub.alice, "password": hub.users[hub.alice]["password"]}
    headers = {}
    if variant == "empty":
        data["_xsrf"] = ""
    elif variant == "wrong":
        good = form["inputs"]["_xsrf"] or "bogus"
        data["_xsrf"] = ("A" if good[0] != "A" else "B") + good[1:]
    elif variant == "no-cors-missing":
        headers = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    r = _post_login_raw(hub, sess, data, headers)
    assert r.status_code == 403, f"login POST with {variant} _xsrf: {r.status_code}"
    assert "nbwarden-session" not in sess.cookies


def test_home_requires_login(hub):
    r = hub.browser().get(hub.url + "/hub/home", allow_redirects=False)
    assert r.status_code == 302
    netloc, path, query = nbw.location_path(r)
    assert path == "/hub/login"
    assert urllib.parse.parse_qs(query).get("next") == ["/hub/home"]


def test_logout_revokes_session(hub):
    sess, r = hub.login(hub.alice)
    assert r.status_code == 302
    cookie = sess.cookies.get("nbwarden-session")
    xsrf = hub.xsrf_from(sess)
    # without _xsrf: refused, still logged in
    r = sess.post(hub.url + "/hub/logout", data={}, allow_redirects=False)
    assert r.status_code == 403
    assert sess.get(hub.url + "/hub/home", allow_redirects=False).status_code == 200
    n = len(hub.audit_find("auth.logout", user=hub.alice))
    r = sess.post(hub.url + "/hub/logout", data={"_xsrf": xsrf}, allow_redirects=False)
    assert r.status_code in (302, 303, 200), r.status_code
    hub.wait_audit("auth.logout", user=hub.alice)
    assert len(hub.audit_find("auth.logout", user=hub.alice)) == n + 1
    # the old cookie value is dead server-side, not just deleted in the browser
    replay = hub.browser()
    replay.cookies.set("nbwarden-session", cookie, path="/hub/")
    r = replay.get(hub.url + "/hub/home", allow_redirects=False)
    assert r.status_code == 302 and nbw.location_path(r)[1] == "/hub/login"
    r = replay.get(hub.url + "/hub/api/user", allow_redirects=False)
    assert r.status_code == 403


def test_login_next_same_origin(hub):
    sess, r = hub.login(hub.alice, next_url="/hub/home?from=e2e")
    assert r.status_code == 302
    netloc, path, query = nbw.location_path(r)
    assert netloc == f"127.0.0.1:{hub.port}" and path == "/hub/home" and query == "from=e2e"


EVIL_NEXT = [
    "//evil.com",
    "//evil.com/hub/home",
    "https://evil.com/",
    "http://evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\t/evil.com",
    "javascript:alert(1)",
    "http://127.0.0.1@evil.com/",
    "%2F%2Fevil.com",
    "/hub/home\r\nSet-Cookie: evil=1",
]


@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_open_redirect_refused_on_login(hub, evil):
    sess, r = hub.login(hub.alice, next_url=evil)
    assert r.status_code == 302
    assert "evil" not in sess.cookies and "\n" not in r.headers["Location"]
    netloc, path, _ = nbw.location_path(r)
    assert netloc == f"127.0.0.1:{hub.port}", f"next={evil!r} redirected to {r.headers['Location']!r}"
    assert path == "/hub/home", f"next={evil!r} redirected to {r.headers['Location']!r}"


@pytest.mark.parametrize("evil", ["//evil.com", "https://evil.com/"])
def test_open_redirect_refused_when_logged_in(hub, alice_browser, evil):
    r = alice_browser.get(hub.url + "/hub/login", params={"next": evil}, allow_redirects=False)
    assert r.status_code == 302, r.status_code
    netloc, path, _ = nbw.location_path(r)
    assert netloc == f"127.0.0.1:{hub.port}" and path == "/hub/home", r.headers["Location"]


def test_reflected_values_escaped(hub):
    payload = '"><script>alert(1)</script>'
    s = hub.browser()
    r = s.get(hub.url + "/hub/login", params={"next": "/hub/home" + payload})
    assert "<script>alert(1)" not in r.text
    sess, r = hub.login('<img src=x onerror=alert(1)>', password="whatever-password")
    assert r.status_code == 403
    assert "<img src=x" not in r.text


def test_no_session_fixation(hub):
    sess = hub.browser()
    planted = "A" * 43
    sess.cookies.set("nbwarden-session", planted, path="/hub/")
    sess, r = hub.login(hub.alice, sess=sess)
    assert r.status_code == 302
    issued = [nbw.parse_set_cookie(h) for h in nbw.set_cookie_headers(r)]
    new = [v for n, v, _ in issued if n == "nbwarden-session"]
    assert new and new[0] != planted, "login kept a session id chosen by the client"
