"""`nbwarden user add` / `token issue` on a fresh state dir, before and while serve runs."""

import os
import time

import pytest

import nbw


@pytest.fixture(scope="module")
def accounts(request):
    from conftest import finish_daemon, new_daemon
    d = new_daemon("accounts")
    tag = nbw.run_tag()
    d.dave, d.erin = f"dave-{tag}", f"erin-{tag}"
    d.write_config()
    yield d
    problems = finish_daemon(d)
    if problems:
        pytest.fail("accounts daemon teardown:\n  " + "\n  ".join(problems))


def test_user_add_before_serve_then_login(accounts):
    d = accounts
    assert not os.path.exists(d.state_dir)
    d.add_user(d.dave)  # before `serve` ever ran: the CLI must initialise what it needs
    d.start()
    sess, r = d.login(d.dave)
    assert r.status_code == 302, f"login after user add before serve: {r.status_code} {r.text[:300]}"


def test_user_add_while_serving(accounts):
    d = accounts
    if not d.running():
        d.start()
    d.add_user(d.erin, admin=True)
    sess, r = d.login(d.erin)
    assert r.status_code == 302
    tok = d.issue_token(d.erin)
    me = d.api("GET", "/user", token=tok)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == d.erin and me.json()["admin"] is True


@pytest.mark.parametrize("name", ["Bad", "a b", "../etc", "x" * 33, "-dash", "1abc", "", "al\nice"])
def test_user_add_rejects_invalid_names(accounts, name):
    r = accounts.cli("user", "add", name, input="long-enough-password\n")
    assert r.returncode != 0, f"user add accepted invalid name {name!r}"
    assert r.returncode != 139 and r.returncode > 0


def test_user_add_rejects_short_password(accounts):
    d = accounts
    if not d.running():
        d.start()
    name = f"frank-{nbw.run_tag()}"
    r = d.cli("user", "add", name, input="short\n")
    assert r.returncode != 0, "a 5-character password was accepted"
    assert "password" in (r.stdout + r.stderr).lower(), f"no clear message: {r.stdout}{r.stderr}"
    sess, resp = d.login(name, password="short")
    assert resp.status_code == 403


def test_user_add_duplicate(accounts):
    d = accounts
    r = d.cli("user", "add", d.dave, input="another-password-123\n")
    assert r.returncode != 0, "adding an existing user again succeeded"
    if not d.running():
        d.start()
    # the original password still works
    sess, resp = d.login(d.dave)
    assert resp.status_code == 302


def test_token_issue_unknown_user(accounts):
    r = accounts.cli("token", "issue", f"nobody-{nbw.run_tag()}")
    assert r.returncode != 0
    assert r.stdout.strip() == "", "a token was printed for an unknown user"


def test_token_issue_audited(accounts):
    d = accounts
    before = len(d.audit_find("token.issue", user=d.dave))
    tok = d.issue_token(d.dave)
    recs = d.wait_audit("token.issue", user=d.dave)
    assert len(recs) == before + 1
    assert tok not in open(d.audit_file).read()


def test_token_expiry(accounts):
    d = accounts
    if not d.running():
        d.start()
    tok = d.issue_token(d.dave, expires_in=2)
    t0 = time.monotonic()
    r = d.api("GET", "/user", token=tok)
    assert r.status_code == 200, f"fresh token with --expires-in 2 refused: {r.status_code}"
    assert r.json()["name"] == d.dave
    # poll until refused; must happen within expiry + slack
    def expired():
        return d.api("GET", "/user", token=tok).status_code == 403
    nbw.wait_until(expired, 6, interval=0.2, what="expired token refused")
    assert time.monotonic() - t0 <= 4.5, "token honoured well past its expiry"


def test_state_holds_no_plain_secrets(accounts):
    d = accounts
    hub_dir = os.path.join(d.state_dir, "hub")
    assert os.path.isdir(hub_dir)
    st = os.stat(hub_dir)
    assert st.st_uid == nbw.HUB_UID_DEFAULT, "state_dir/hub must belong to the hub uid"
    assert st.st_mode & 0o077 == 0, f"state_dir/hub is mode {oct(st.st_mode)}"
    blobs = b""
    for root, _dirs, files in os.walk(d.state_dir):
        for f in files:
            p = os.path.join(root, f)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as fh:
                    blobs += fh.read()
    for label, value in d.secrets:
        assert value.encode() not in blobs, f"{label} is stored in clear under state_dir"
