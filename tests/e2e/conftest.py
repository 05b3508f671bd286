"""Fixtures for the nbwarden end-to-end tests (see README.md).

One shared daemon (`hub`) with users alice-TAG, bob-TAG (normal) and
carol-admin-TAG (admin) serves most tests; lifecycle and error-path tests start
their own daemons. Daemons share runc's root (/run/nbwarden/runc) and reconcile
it on start, so the fixtures never run two at once: starting one stops the
other, and the shared one restarts on demand.
"""

import fcntl
import os
import shutil
import sys
import time

import pytest

import nbw

ALL_DAEMONS = []
LOCK_PATH = "/run/lock/nbwarden-e2e.lock" if os.path.isdir("/run/lock") else "/tmp/nbwarden-e2e.lock"
LOCK_WAIT = 1800
_lock_fd = None


def machine_lock():
    """One e2e run with daemons per machine: daemons share /run/nbwarden/runc and a starting
    daemon removes every leftover nbwarden-* container, so a parallel run would kill ours.
    Held until this pytest process exits."""
    global _lock_fd
    if _lock_fd is not None:
        return
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + LOCK_WAIT
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if not told:
                sys.stderr.write(f"\n[e2e] another e2e run holds {LOCK_PATH}; waiting for it\n")
                told = True
            if time.monotonic() > deadline:
                os.close(fd)
                pytest.fail(f"another e2e run held {LOCK_PATH} for more than {LOCK_WAIT}s")
            time.sleep(0.5)
    _lock_fd = fd


def pytest_report_header(config):
    return f"nbwarden binary: {nbw.nbwarden_bin()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and ALL_DAEMONS:
        d = ALL_DAEMONS[-1]
        rep.sections.append((f"nbwarden {d.label} output (last lines)", d.log_tail(60)))


def require_binary():
    b = nbw.nbwarden_bin()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail(f"nbwarden binary not found at {b} (build with meson/ninja or set NBWARDEN_BIN)")
    return b


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: nbwarden serve and user/token commands run as root")


def require_runc():
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")


@pytest.fixture(scope="session")
def nbwarden_binary():
    return require_binary()


def new_daemon(label, settings=None):
    require_root()
    require_runc()
    require_binary()
    machine_lock()
    d = nbw.Daemon(label, settings)
    ALL_DAEMONS.append(d)
    return d


def finish_daemon(d, expect_clean=True):
    """Stop d with SIGTERM and return a list of problems (leftovers, leaked secrets, bad exit)."""
    problems = []
    was_running = d.running()
    try:
        rc = d.stop()
    except AssertionError as e:
        problems.append(str(e))
        rc = None
    if was_running and rc not in (0, None):
        problems.append(f"nbwarden serve exited with {rc} after SIGTERM")
    problems += d.secret_leaks()
    problems += d.sanitizer_reports()
    if expect_clean:
        problems += d.leftovers()
    if problems:
        d.kill_everything()
    elif not os.environ.get("NBW_E2E_KEEP"):
        shutil.rmtree(d.base, ignore_errors=True)  # leftovers() found no mount below it
    return problems


def start_own_daemon(label, settings=None, users=(), admins=(), servers=False):
    """A started daemon of a fixture's own (new_daemon, configured from settings: lists of
    mappings such as singleuser.profileList are written as JSON), with each of users added
    (admin if in admins) and given a token, d.users[name]["token"]; with servers, each user's
    server is started too. On any failure everything of the daemon is killed and the error raised.
    Stop it with stop_own_daemon."""
    d = new_daemon(label, settings)
    d.write_config()
    try:
        d.start()
        for u in users:
            d.add_user(u, admin=u in admins)
        for u in users:
            d.users[u]["token"] = d.issue_token(u)
        if servers:
            for u in users:
                d.ensure_server(u, d.users[u]["token"])
    except BaseException:
        d.kill_everything()
        raise
    return d


def stop_own_daemon(d, what):
    """The teardown of a start_own_daemon fixture: finish_daemon, any problem fails the test."""
    problems = finish_daemon(d)
    if problems:
        pytest.fail(f"{what} teardown:\n  " + "\n  ".join(problems))


@pytest.fixture(scope="session")
def _main_daemon():
    tag = nbw.run_tag()
    alice, bob, admin = f"alice-{tag}", f"bob-{tag}", f"carol-admin-{tag}"
    d = start_own_daemon("main", {
        "audit": {"code_max_bytes": 256},
        "singleuser": {"pids": {"limit": 300}, "memory": {"limit": "1G"}, "cpu": {"limit": 1}},
    }, users=(alice, bob, admin), admins=(admin,))
    d.alice, d.bob, d.admin = alice, bob, admin
    yield d
    stop_own_daemon(d, "shared daemon")


@pytest.fixture
def hub(_main_daemon):
    """The shared daemon, (re)started if another test's daemon had stopped it."""
    d = _main_daemon
    if not d.running():
        d.start()
    return d


def token_of(d, user):
    return d.users[user]["token"]


def alice_kernel(d, code):
    """For a module's `kernel` fixture: a kernel channel of alice's on the shared daemon d (started
    again and her server spawned if need be) in which code has run without error; (ws, run_cell dict)."""
    if not d.running():
        d.start()
    tok = token_of(d, d.alice)
    d.ensure_server(d.alice, tok)
    ws = nbw.open_channels(d, d.alice, nbw.create_kernel(d, d.alice, token=tok), token=tok)
    try:
        out = nbw.run_cell(ws, code)
        assert out["error"] is None, out
    except BaseException:
        ws.close()
        raise
    return ws, out


@pytest.fixture
def alice_server(hub):
    return hub.ensure_server(hub.alice, token_of(hub, hub.alice))


@pytest.fixture
def bob_server(hub):
    return hub.ensure_server(hub.bob, token_of(hub, hub.bob))


@pytest.fixture
def alice_browser(hub):
    """A requests.Session logged in as alice through the form."""
    sess, r = hub.login(hub.alice)
    assert r.status_code == 302, f"login as alice: {r.status_code} {r.text[:300]}"
    return sess


@pytest.fixture
def daemon_factory():
    """Start extra daemons (error paths, lifecycle); each is stopped and checked at the end."""
    made = []

    def make(label, settings=None):
        d = new_daemon(label, settings)
        made.append(d)
        return d

    yield make
    problems = []
    for d in made:
        if d.proc is not None:
            problems += [f"{d.label}: {p}" for p in finish_daemon(d)]
    if problems:
        pytest.fail("daemon teardown:\n  " + "\n  ".join(problems))
