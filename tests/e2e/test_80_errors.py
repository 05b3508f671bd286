"""Error paths: runtime missing, Jupyter failing or never listening, state dir unwritable.

Each one: a clear message, an audit `server.spawn.failure` (when a spawn was
attempted), and no leftovers (checked again when each daemon is stopped).
"""

import json
import os
import re
import subprocess
import time

import pytest

import nbw


def start_with_user(d):
    tag = nbw.run_tag()
    d.user = f"gina-{tag}"
    d.write_config()
    d.start()
    d.add_user(d.user)
    d.tok = d.issue_token(d.user)
    return d


def spawn_expect_failure(d, timeout=60):
    """Start d.user's server, expect failure; return (messages, seconds until failure)."""
    user, tok = d.user, d.tok
    msgs = []
    t0 = time.monotonic()
    r = d.api("POST", f"/users/{user}/server", token=tok)
    assert r.status_code != 201, "spawn reported success"
    if r.status_code == 202:
        events = d.progress(user, token=tok, timeout=timeout)
        last = events[-1]
        assert last.get("failed") is True and not last.get("ready"), f"progress ended with {last}"
        msgs.append(last.get("message") or "")
    else:
        assert 400 <= r.status_code < 600, r.status_code
        try:
            msgs.append(r.json().get("message") or "")
        except ValueError:
            msgs.append(r.text)
    elapsed = time.monotonic() - t0

    def settled():
        m = d.server_model(user, tok)
        return not m or not (m.get("ready") or m.get("pending"))
    nbw.wait_until(settled, 15, what="failed server no longer pending")
    recs = d.wait_audit("server.spawn.failure", user=user, timeout=15)
    msgs.append(json.dumps(recs[-1]))
    assert d.running(), "the daemon died on a failed spawn:\n" + d.log_tail()
    assert d.api("GET", "/user", token=tok).status_code == 200, "the hub stopped answering after a failed spawn"
    return msgs, elapsed, recs[-1]


def assert_no_user_leftovers(d):
    user = d.user
    problems = []
    if d.user_containers(user):
        problems.append(f"container left in runc: {d.user_containers(user)}")
    procs = d.uid_range_pids()
    if procs:
        problems.append(f"processes left in the sandbox uid range: {[nbw.proc_cmdline(p) for p in procs]}")
    for p in nbw.all_pids():
        cl = " ".join(nbw.proc_cmdline(p) or [])
        if user in cl or (os.path.join(d.state_dir, "bundles") in cl):
            problems.append(f"process left: {cl}")
    cg = [c for c in nbw.cgroup_dirs() if user in os.path.basename(c)]
    if cg:
        problems.append(f"cgroups left: {cg}")
    mounts = [m for m in nbw.mountinfo_points() if m.startswith(d.base + "/")]
    if mounts:
        problems.append(f"mounts left: {mounts}")
    if os.path.exists(os.path.join(d.state_dir, "bundles", user)):
        problems.append("bundle dir left")
    assert not problems, "; ".join(problems)


def test_runtime_missing(daemon_factory):
    d = start_with_user(daemon_factory("no-runtime", {"singleuser": {"runtime": "/nonexistent/runc"}}))
    msgs, elapsed, rec = spawn_expect_failure(d)
    user_msg = msgs[0]
    assert "/nonexistent/runc" in user_msg or "singleuser.runtime" in user_msg, \
        f"failure message does not name the runtime: {user_msg!r}"
    assert "/nonexistent/runc" in msgs[-1] or "runtime" in msgs[-1], f"audit record lacks the reason: {rec}"
    assert elapsed < 10, f"a missing runtime took {elapsed:.1f}s to report"
    assert_no_user_leftovers(d)
    # and again: a second attempt fails the same way instead of hanging in "pending"
    msgs2, _, _ = spawn_expect_failure(d)
    assert "/nonexistent/runc" in msgs2[0] or "singleuser.runtime" in msgs2[0]
    assert_no_user_leftovers(d)


def test_jupyter_exits_at_start(daemon_factory):
    d = start_with_user(daemon_factory("jupyter-exits", {
        "singleuser": {"cmd": ["/usr/bin/python3", "-c", "import sys; sys.exit(3)"], "startTimeout": 60}}))
    msgs, elapsed, rec = spawn_expect_failure(d)
    m = msgs[0]
    assert re.search(r"exit|status|terminat|died", m, re.I) and re.search(r"\b3\b", m), \
        f"failure message does not say the server exited with 3: {m!r}"
    assert elapsed < 20, f"an immediate exit took {elapsed:.1f}s to report (startTimeout is 60)"
    assert_no_user_leftovers(d)


def test_jupyter_never_listens(daemon_factory):
    d = start_with_user(daemon_factory("jupyter-hangs", {
        "singleuser": {"cmd": ["/usr/bin/python3", "-c", "import time; time.sleep(600)"], "startTimeout": 3}}))
    msgs, elapsed, rec = spawn_expect_failure(d, timeout=30)
    assert re.search(r"time|3 ?s", msgs[0], re.I), f"failure message does not mention the timeout: {msgs[0]!r}"
    assert 2.5 <= elapsed < 15, f"startTimeout 3 s, failure after {elapsed:.1f}s"
    assert_no_user_leftovers(d)  # the sleeping process must be gone


def refuses_to_start(d, must_name, timeout=30):
    d.write_config()
    d.start(wait=False)
    try:
        rc = d.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"nbwarden serve kept running with an unusable state_dir {d.state_dir}")
    out = d.stdout_text() + d.stderr_text()
    assert rc != 0, "serve exited 0"
    assert any(n in out for n in must_name), f"the message does not name {must_name}:\n{out}"
    return out


def test_state_dir_below_regular_file(daemon_factory):
    d = daemon_factory("state-file")
    blocker = os.path.join(d.base, "not-a-dir")
    with open(blocker, "w") as f:
        f.write("x")
    d.state_dir = os.path.join(blocker, "state")
    d.settings["hub"]["state_dir"] = d.state_dir
    refuses_to_start(d, [d.state_dir, blocker])


def test_state_dir_on_read_only_mount(daemon_factory):
    d = daemon_factory("state-ro")
    ro = os.path.join(d.base, "ro")
    os.makedirs(ro)
    d.state_dir = os.path.join(ro, "state")
    d.settings["hub"]["state_dir"] = d.state_dir
    subprocess.run(["mount", "--bind", ro, ro], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
        refuses_to_start(d, [d.state_dir, ro])
    finally:
        subprocess.run(["umount", ro], check=True)


def test_homes_unwritable_spawn_fails(daemon_factory):
    d = start_with_user(daemon_factory("homes-ro"))
    homes = os.path.join(d.state_dir, "homes")
    assert os.path.isdir(homes), "state_dir/homes not created at start (sandbox.h layout)"
    subprocess.run(["mount", "--bind", homes, homes], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", homes], check=True)
        msgs, elapsed, rec = spawn_expect_failure(d)
        assert homes in msgs[0] or d.state_dir in msgs[0], f"the message does not name the path: {msgs[0]!r}"
    finally:
        subprocess.run(["umount", homes], check=True)
    assert_no_user_leftovers(d)
