"""REST API under /hub/api: version, identity, users, authorization, tokens, XSRF for cookies."""

import re

import pytest

import nbw
from conftest import token_of

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def is_json_error(r, status):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers.get("Content-Type")
    body = r.json()
    assert body.get("status") == status, body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


def test_version(hub, nbwarden_binary):
    r = hub.api("GET", "/", token=token_of(hub, hub.alice))
    assert r.status_code == 200
    v = r.json()["version"]
    out = nbw.subprocess.run([nbwarden_binary, "version"], capture_output=True, text=True).stdout
    assert v and v in out, f"API version {v!r} vs `nbwarden version` {out!r}"


@pytest.mark.parametrize("who", ["alice", "bob", "admin"])
def test_whoami(hub, who):
    name = getattr(hub, who)
    r = hub.api("GET", "/user", token=token_of(hub, name))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == name
    assert body["admin"] is (who == "admin")


def test_user_model_self(hub):
    r = hub.api("GET", f"/users/{hub.alice}", token=token_of(hub, hub.alice))
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["name"] == hub.alice
    assert isinstance(m.get("servers"), dict)
    assert m["admin"] is False


def test_user_model_other_user_forbidden(hub):
    body = is_json_error(hub.api("GET", f"/users/{hub.bob}", token=token_of(hub, hub.alice)), 403)
    assert hub.users[hub.bob]["password"] not in str(body)


def test_non_admin_cannot_probe_user_names(hub):
    # an unknown name and another user's name look the same to a non-admin
    r1 = hub.api("GET", f"/users/nosuch-{nbw.run_tag()}", token=token_of(hub, hub.alice))
    r2 = hub.api("GET", f"/users/{hub.bob}", token=token_of(hub, hub.alice))
    assert r1.status_code == r2.status_code == 403, (r1.status_code, r2.status_code)


def test_admin_reads_any_user(hub):
    r = hub.api("GET", f"/users/{hub.alice}", token=token_of(hub, hub.admin))
    assert r.status_code == 200 and r.json()["name"] == hub.alice


def test_admin_unknown_user_404(hub):
    r = hub.api("GET", f"/users/nosuch-{nbw.run_tag()}", token=token_of(hub, hub.admin))
    assert r.status_code == 404, r.status_code


@pytest.mark.parametrize("path", ["/users/Bad%20Name", "/users/..%2f..%2fetc", "/users/" + "a" * 40])
def test_invalid_user_names(hub, path):
    r = hub.api("GET", path, token=token_of(hub, hub.admin))
    assert r.status_code in (400, 404), f"{path}: {r.status_code}"


@pytest.mark.parametrize("path", ["/user", "/users/{alice}", "/users/{alice}/server/progress"])
def test_anonymous_refused(hub, path):
    is_json_error(hub.api("GET", path.format(alice=hub.alice)), 403)


@pytest.mark.parametrize("header", [
    "token nbw_" + "A" * 43,
    "token ",
    "token",
    "Bearer nbw_" + "B" * 43,
    "Basic YWxpY2U6cGFzc3dvcmQ=",
])
def test_bad_token_refused(hub, header):
    r = hub.api("GET", "/user", headers={"Authorization": header})
    is_json_error(r, 403)


def test_token_in_url_refused(hub):
    tok = token_of(hub, hub.alice)
    r = hub.api("GET", f"/user?token={tok}")
    is_json_error(r, 403)
    # and a valid header does not make a URL token acceptable either way: the URL token is ignored/refused
    r = hub.api("GET", f"/users/{hub.bob}?token={token_of(hub, hub.bob)}", token=tok)
    assert r.status_code == 403


def test_other_user_cannot_start_or_stop(hub):
    tok = token_of(hub, hub.alice)
    is_json_error(hub.api("POST", f"/users/{hub.bob}/server", token=tok), 403)
    is_json_error(hub.api("DELETE", f"/users/{hub.bob}/server", token=tok), 403)
    is_json_error(hub.api("GET", f"/users/{hub.bob}/server/progress", token=tok), 403)


def test_token_expiry(hub):
    tok = hub.issue_token(hub.alice, expires_in=2)
    r = hub.api("GET", "/user", token=tok)
    assert r.status_code == 200, r.status_code
    nbw.wait_until(lambda: hub.api("GET", "/user", token=tok).status_code == 403, 6, interval=0.2,
                   what="expired token refused")


def test_cookie_api_get_needs_no_xsrf(hub, alice_browser):
    r = alice_browser.get(hub.url + "/hub/api/user", allow_redirects=False)
    assert r.status_code == 200 and r.json()["name"] == hub.alice


@pytest.mark.parametrize("extra", [{}, {"Sec-Fetch-Mode": "no-cors"}, {"X-XSRFToken": ""},
                                   {"X-XSRFToken": "not-the-token"}],
                         ids=["none", "no-cors", "empty", "wrong"])
def test_cookie_api_state_change_needs_xsrf(hub, alice_browser, extra):
    tok = token_of(hub, hub.alice)
    before = hub.server_model(hub.alice, tok)
    r = alice_browser.post(hub.url + f"/hub/api/users/{hub.alice}/server", headers=extra, allow_redirects=False)
    is_json_error(r, 403)
    r = alice_browser.delete(hub.url + f"/hub/api/users/{hub.alice}/server", headers=extra, allow_redirects=False)
    is_json_error(r, 403)
    after = hub.server_model(hub.alice, tok)
    assert bool(before and (before.get("ready") or before.get("pending"))) == \
        bool(after and (after.get("ready") or after.get("pending"))), (before, after)


def test_cookie_api_state_change_with_xsrf_accepted(hub):
    # carol-admin's own server (never started): a DELETE with the right X-XSRFToken passes the check
    sess, r = hub.login(hub.admin)
    assert r.status_code == 302
    xsrf = hub.xsrf_from(sess)
    assert xsrf
    r = sess.delete(hub.url + f"/hub/api/users/{hub.admin}/server", allow_redirects=False)
    assert r.status_code == 403
    r = sess.delete(hub.url + f"/hub/api/users/{hub.admin}/server", headers={"X-XSRFToken": xsrf},
                    allow_redirects=False)
    assert r.status_code in (202, 204, 400), f"DELETE with X-XSRFToken: {r.status_code} {r.text[:200]}"
