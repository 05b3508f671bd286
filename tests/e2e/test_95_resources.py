"""Resource exhaustion from a notebook cell (issue 3): pids and memory limits.

A fork bomb stops at singleuser.pids.limit (EAGAIN) and the Jupyter server
survives; the same forking code gets far past that limit directly on the host
as an unprivileged uid, so the pass is the limit's doing. A memory bomb past
singleuser.memory.limit is OOM-killed inside the sandbox's memory cgroup: only
the offending process dies, the kernel, the Jupyter server and another user's
server keep working, and a quarter of the limit is allocated fine (control). Both are
audited by the monitor from the sandbox's cgroup counters: sandbox.oom and
sandbox.pids.limit.
"""

import os
import subprocess
import time

import pytest

import nbw
from conftest import start_own_daemon, stop_own_daemon, token_of
from test_40_spawn import create_kernel, open_channels

PIDS_LIMIT = 64
MEM_LIMIT = 256 << 20

FORK_CODE = r'''
import os, time, errno
kids, err = [], None
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        err = errno.errorcode.get(e.errno, e.errno); break
    if pid == 0:
        time.sleep(60); os._exit(0)
    kids.append(pid)
n = len(kids)
for p in kids:
    os.kill(p, 9)
for p in kids:
    os.waitpid(p, 0)
print('FORKED', n, err)
'''

# Allocate MB mebibytes, touching every page, in a child; report how the child ended.
MEM_CODE = r'''
import os
def alloc(mb):
    pid = os.fork()
    if pid == 0:
        keep = []
        for _ in range(mb // 16):
            keep.append(b'\x01' * (16 << 20))
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    return 'SIG %d' % os.WTERMSIG(st) if os.WIFSIGNALED(st) else 'EXIT %d' % os.WEXITSTATUS(st)
'''


@pytest.fixture(scope="module")
def limited():
    tag = nbw.run_tag()
    fay, gus = f"fay-{tag}", f"gus-{tag}"
    d = start_own_daemon("resources", {"singleuser": {"memory": {"limit": "256M"}, "pids": {"limit": PIDS_LIMIT}}},
                         users=(fay, gus), servers=True)
    d.fay, d.gus = fay, gus
    yield d
    stop_own_daemon(d, "resources daemon")


def channel(d, user):
    kid = create_kernel(d, user, token=token_of(d, user))
    return open_channels(d, user, kid, token=token_of(d, user))


def cell(ws, code, timeout=120):
    out = nbw.run_cell(ws, code, timeout=timeout)
    assert out["error"] is None, f"cell failed: {out}"
    return out["stdout"].strip()


def server_answers(d, user):
    r = nbw.requests.get(d.url + f"/user/{user}/api/status", headers={"Authorization": f"token {token_of(d, user)}"},
                         timeout=30, allow_redirects=False)
    return r.status_code == 200


def recent(d):
    return [{k: r.get(k) for k in ("event", "user", "count", "total")}
            for r in d.audit_records() if str(r.get("event", "")).startswith("sandbox.")][-15:]


def test_fork_bomb_stops_at_the_pids_limit(limited):
    d = limited

    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    host = subprocess.run(["/usr/bin/python3", "-c", FORK_CODE], capture_output=True, text=True, cwd="/",
                          env={"PATH": "/usr/bin:/bin"}, preexec_fn=drop, timeout=120)
    assert "FORKED 200 None" in host.stdout, f"control: forking 200 processes on the host: {host.stdout}{host.stderr}"

    ws = channel(d, d.fay)
    try:
        before = len(d.audit_find("sandbox.pids.limit", user=d.fay))
        t0 = time.time()
        out = cell(ws, FORK_CODE)
        n, err = out.split()[1], out.split()[2]
        assert err == "EAGAIN" and int(n) < PIDS_LIMIT, f"fork bomb inside the sandbox: {out}"
        try:
            nbw.wait_until(lambda: len(d.audit_find("sandbox.pids.limit", user=d.fay)) > before, 5,
                           what="sandbox.pids.limit")
        except AssertionError as e:
            raise AssertionError(f"{e}; recent: {recent(d)}")
        assert time.time() - t0 < 60
        rec = d.audit_find("sandbox.pids.limit", user=d.fay)[-1]
        assert rec["count"] >= 1 and rec["total"] >= rec["count"], rec
        # the kernel and the server survive
        assert cell(ws, "print(6 * 7)") == "42"
        assert server_answers(d, d.fay)
    finally:
        ws.close()


def test_memory_bomb_kills_only_the_offender(limited):
    d = limited
    ws = channel(d, d.fay)
    try:
        # control: a quarter of the limit is fine (the server and kernels use part of it)
        assert cell(ws, MEM_CODE + f"print(alloc({(MEM_LIMIT >> 20) // 4}))") == "EXIT 0"
        before = len(d.audit_find("sandbox.oom", user=d.fay))
        out = cell(ws, MEM_CODE + f"print(alloc({(MEM_LIMIT >> 20) * 2}))")
        assert out == "SIG 9", f"memory bomb inside the sandbox: {out}"
        try:
            nbw.wait_until(lambda: len(d.audit_find("sandbox.oom", user=d.fay)) > before, 3, what="sandbox.oom")
        except AssertionError as e:
            raise AssertionError(f"{e}; recent: {recent(d)}")
        rec = d.audit_find("sandbox.oom", user=d.fay)[-1]
        assert rec["count"] >= 1, rec
        # only the offender died: this kernel, the server and the other user keep working
        assert cell(ws, "print(6 * 7)") == "42"
        assert server_answers(d, d.fay)
    finally:
        ws.close()
    ws = channel(d, d.gus)
    try:
        assert cell(ws, "print(6 * 7)") == "42"
    finally:
        ws.close()
    assert not d.audit_find("sandbox.oom", user=d.gus)
