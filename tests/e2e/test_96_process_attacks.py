"""Other processes' memory from a notebook cell (issue 3): ptrace, process_vm_*, /proc/PID/mem.

Each attack runs in a real user's kernel through the proxy against four
targets: the kernel's parent (the Jupyter server), pid 1 of the sandbox (in
today's layout the same process: nbwarden-guard execs the server as pid 1), the
kernel's own child, and a process the test starts on the host as the very uid
the sandbox's user maps to (so uid checks alone would let the kernel in).

- ptrace, process_vm_readv/writev and pidfd_getfd are not in the seccomp
  profile (share/seccomp/default.json: default EPERM; Docker's default allows
  process_vm_* only with CAP_SYS_PTRACE): EPERM, audited as
  sandbox.syscall.denied with the syscall's name.
- Writing through /proc/PID/mem is refused by the guard's Landlock policy (no
  writes below /proc): EACCES, audited as sandbox.write.denied.
- The host process is not in the sandbox's pid namespace: it cannot be found
  in /proc nor opened (ENOENT, pidfd_open ESRCH). That is not a denial and
  leaves no record: the tests assert invisibility instead.

Controls run the same code on the host without a sandbox: an unprivileged uid
(65534) against its own child, and the sandbox's own host uid against the
host process, where the attack must succeed (read the secret, write, stop the
tracee), so a pass cannot come from code that never worked.

Not asserted as an attack: *reading* /proc/PID/mem of the user's own server
or child works inside the sandbox (same uid, same Landlock domain, and no Yama
on a host like the test host), so the seccomp ban on process_vm_readv does not
keep a kernel out of its own server's memory. That memory is the user's own
(prepare.c leaves the server's /proc/PID/environ, token included, readable to
the same uid on purpose), and nothing outside the sandbox is reachable this way
(test_host_process_invisible_in_sandbox).
"""

import functools
import os
import re
import subprocess

import pytest

import nbw
from conftest import alice_kernel

PRELUDE = r'''
import ctypes, os, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR_PTRACE, NR_PROCESS_VM_READV, NR_PROCESS_VM_WRITEV, NR_PIDFD_OPEN, NR_PIDFD_GETFD = 101, 310, 311, 434, 438
PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 16, 17, 0x4206, 0x4207
WALL = 0x40000000

class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]

def sc(nr, *a):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])
    return r, (ctypes.get_errno() if r < 0 else 0)

def res(ok, detail=''):
    print('RESULT', 'ok' if ok else 'refused', detail, flush=True)

def ename(e):
    return errno.errorcode.get(e, str(e))

class Target:
    """len(data) bytes at addr in pid hold data; a write puts payload there; seen() tells what
    is there afterwards when the target can say (our own child), else None."""
    def __init__(self, pid, addr, data, payload, seen=None, finish=None):
        self.pid, self.addr, self.data, self.payload = pid, addr, data, payload
        self._seen, self._finish, self._told = seen, finish, None
    def seen(self):
        if self._seen is not None and self._told is None:
            self._told = self._seen()
        return self._told
    def finish(self):
        self.seen()
        if self._finish:
            self._finish()

def server_target(pid):
    # pid's argv strings: written at exec, never changed again, and known from
    # /proc/PID/cmdline: reading them, or writing the same bytes back, harms nothing.
    fields = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
    arg_start = int(fields[48 - 3])
    data = open('/proc/%d/cmdline' % pid, 'rb').read()[:16]
    return Target(pid, arg_start, data, data)

def child_target():
    buf = ctypes.create_string_buffer(16)
    buf.raw = b'parent-copy-0000'
    r1, w1 = os.pipe(); r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        buf.raw = b'child-secret-016'   # only the child's memory holds this
        os.write(w1, b'r')
        os.read(r2, 1)                  # the attack is over
        os.write(w1, buf.raw)
        os._exit(0)
    os.read(r1, 1)
    def seen():
        os.write(w2, b'd')
        return os.read(r1, 16)
    def finish():
        os.waitpid(pid, 0)
        for fd in (r1, w1, r2, w2):
            os.close(fd)
    return Target(pid, ctypes.addressof(buf), b'child-secret-016', b'parent-wrote-016', seen, finish)

def a_process_vm_readv(t):
    buf = ctypes.create_string_buffer(len(t.data))
    loc, rem = iovec(ctypes.addressof(buf), len(t.data)), iovec(t.addr, len(t.data))
    n, e = sc(NR_PROCESS_VM_READV, t.pid, ctypes.addressof(loc), 1, ctypes.addressof(rem), 1, 0)
    if n < 0:
        return res(False, ename(e))
    res(buf.raw == t.data, 'read %r' % buf.raw)

def a_process_vm_writev(t):
    buf = ctypes.create_string_buffer(t.payload, len(t.payload))
    loc, rem = iovec(ctypes.addressof(buf), len(t.payload)), iovec(t.addr, len(t.payload))
    n, e = sc(NR_PROCESS_VM_WRITEV, t.pid, ctypes.addressof(loc), 1, ctypes.addressof(rem), 1, 0)
    if n < 0:
        return res(False, ename(e))
    s = t.seen()
    res(n == len(t.payload) and s in (None, t.payload), 'wrote %d, now %r' % (n, s))

def a_ptrace_attach(t):
    r, e = sc(NR_PTRACE, PTRACE_ATTACH, t.pid, 0, 0)
    if r < 0:
        return res(False, ename(e))
    _, st = os.waitpid(t.pid, WALL)
    sc(NR_PTRACE, PTRACE_DETACH, t.pid, 0, 0)
    res(os.WIFSTOPPED(st), 'tracee status %#x' % st)

def a_ptrace_seize(t):
    r, e = sc(NR_PTRACE, PTRACE_SEIZE, t.pid, 0, 0)
    if r < 0:
        return res(False, ename(e))
    sc(NR_PTRACE, PTRACE_INTERRUPT, t.pid, 0, 0)
    _, st = os.waitpid(t.pid, WALL)
    sc(NR_PTRACE, PTRACE_DETACH, t.pid, 0, 0)
    res(os.WIFSTOPPED(st), 'tracee status %#x' % st)

def a_pidfd_getfd(t):
    pfd, e = sc(NR_PIDFD_OPEN, t.pid, 0)
    if pfd < 0:
        return res(False, 'pidfd_open ' + ename(e))
    try:
        fd, e = sc(NR_PIDFD_GETFD, pfd, 2, 0)   # a copy of the target's stderr
        if fd < 0:
            return res(False, ename(e))
        os.close(fd)
        res(True, 'got fd %d' % fd)
    finally:
        os.close(pfd)

def a_proc_mem_read(t):
    try:
        fd = os.open('/proc/%d/mem' % t.pid, os.O_RDONLY)
    except OSError as e:
        return res(False, ename(e.errno))
    try:
        got = os.pread(fd, len(t.data), t.addr)
    except OSError as e:
        return res(False, 'pread ' + ename(e.errno))
    finally:
        os.close(fd)
    res(got == t.data, 'read %r' % got)

def a_proc_mem_write(t):
    try:
        fd = os.open('/proc/%d/mem' % t.pid, os.O_WRONLY)
    except OSError as e:
        return res(False, ename(e.errno))
    try:
        n = os.pwrite(fd, t.payload, t.addr)
    except OSError as e:
        return res(False, 'pwrite ' + ename(e.errno))
    finally:
        os.close(fd)
    s = t.seen()
    res(n == len(t.payload) and s in (None, t.payload), 'wrote %d, now %r' % (n, s))

def attack(fn, t):
    try:
        fn(t)
    finally:
        t.finish()
'''

# name → (function in PRELUDE, what refuses it in the sandbox: (errno name, audit event, audited syscall))
SECCOMP = "sandbox.syscall.denied"
ATTACKS = {
    "process_vm_readv": ("a_process_vm_readv", ("EPERM", SECCOMP, "process_vm_readv")),
    "process_vm_writev": ("a_process_vm_writev", ("EPERM", SECCOMP, "process_vm_writev")),
    "ptrace(PTRACE_ATTACH)": ("a_ptrace_attach", ("EPERM", SECCOMP, "ptrace")),
    "ptrace(PTRACE_SEIZE)": ("a_ptrace_seize", ("EPERM", SECCOMP, "ptrace")),
    "pidfd_getfd": ("a_pidfd_getfd", ("EPERM", SECCOMP, "pidfd_getfd")),
    # Landlock: no write access below /proc
    "write /proc/PID/mem": ("a_proc_mem_write", ("EACCES", "sandbox.write.denied", None)),
}
TARGETS = ["parent (the Jupyter server)", "pid 1", "own child", "host process"]
# The host process is not in the sandbox's pid namespace: calls that look the
# pid up before any check fail as for a pid that does not exist. No record.
INVISIBLE = {("pidfd_getfd", "host process"): "pidfd_open ESRCH",
             ("write /proc/PID/mem", "host process"): "ENOENT"}


def ptrace_scope():
    """Yama's ptrace_scope, or None when the kernel has no Yama.

    The controls depend on it. ptrace attach, process_vm_*, pidfd_getfd and opening
    /proc/PID/mem all ask ptrace_may_access(PTRACE_MODE_ATTACH), which Yama restricts:
    scope 0 (or no Yama: the classic rules, same uid and a dumpable target) lets any
    process of the same uid in; scope 1 only a process's ancestors (so an unprivileged
    parent still reaches its own child); 2 only CAP_SYS_PTRACE; 3 nobody. The test host
    this was written on has no Yama at all (CONFIG_SECURITY_YAMA unset, no
    /proc/sys/kernel/yama), i.e. classic rules: the same-uid control against the host
    process is valid there, and the own-child control is valid under scope 0 and 1."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except FileNotFoundError:
        return None


def result_of(text):
    lines = [l for l in text.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, f"no single RESULT line in: {text!r}"
    _, verdict, detail = (lines[0] + " ").split(" ", 2)
    return verdict, detail.strip()


def on_host(code, uid=65534, gid=65534):
    """PRELUDE + code in a fresh interpreter on the host, as uid:gid, without any sandbox."""
    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    r = subprocess.run(["/usr/bin/python3", "-I", "-c", PRELUDE + code], capture_output=True, text=True, cwd="/",
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
                       preexec_fn=drop, timeout=60)
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def kernel(_main_daemon):
    hub = _main_daemon
    ws, out = alice_kernel(hub, PRELUDE + "print(os.getppid(), os.getpid())\n"
                           "print([l for l in open('/proc/self/status') if l.startswith('Seccomp_filters')])")
    ws.ppid, ws.pid = (int(x) for x in out["stdout"].splitlines()[0].split())
    # the kernel's pid on the host, as the audit records name it
    _, pids = hub.server_pids(hub.alice)
    ws.host_pid = next(p for p in pids
                       if (nbw.proc_status(p) or {}).get("NSpid", "").split()[-1:] == [str(ws.pid)])
    # more than runc's filter: nbwarden-guard's logging copy of the profile is stacked (see test_90)
    ws.logging = "\\t1\\n" not in out["stdout"]
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def victim(_main_daemon, kernel):
    """A process on the host running as the sandbox user's own host uid, holding a secret."""
    hub = _main_daemon
    init, _ = hub.server_pids(hub.alice)
    st = nbw.proc_status(init)
    uid, gid = int(st["Uid"].split()[0]), int(st["Gid"].split()[0])
    tag = nbw.run_tag() + nbw.run_tag()
    secret = f"host-secret-{tag}".encode()

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    code = ("import ctypes, os, sys\n"
            f"buf = ctypes.create_string_buffer({secret!r}, {len(secret)})\n"
            "print(os.getpid(), ctypes.addressof(buf), flush=True)\n"
            "sys.stdin.read()\n")
    p = subprocess.Popen(["/usr/bin/python3", "-I", "-c", code, f"nbw-e2e-victim-{tag}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd="/", preexec_fn=drop,
                         env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        pid, addr = (int(x) for x in p.stdout.readline().split())
        assert pid == p.pid
        yield {"pid": pid, "addr": addr, "secret": secret, "tag": tag, "uid": uid, "gid": gid}
    finally:
        p.stdin.close()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def target_expr(target, victim):
    return {
        "parent (the Jupyter server)": "server_target(os.getppid())",
        "pid 1": "server_target(1)",
        "own child": "child_target()",
        "host process": f"Target({victim['pid']}, {victim['addr']}, {victim['secret']!r}, {victim['secret']!r})",
    }[target]


@functools.lru_cache(maxsize=None)
def _control(fn, target, victim_items):
    v = dict(victim_items)
    if target == "host process" and ptrace_scope() in (None, 0):
        # Another process of the same uid, not the victim's parent: classic ptrace rules allow it.
        return on_host(f"attack({fn}, {target_expr(target, v)})", v["uid"], v["gid"])
    # An unprivileged parent and its own child: allowed without Yama and with ptrace_scope 1
    # (a tracer may always reach its descendants there); with scope 2 or 3 nothing unprivileged is.
    return on_host(f"attack({fn}, child_target())")


def control(fn, target, victim):
    if ptrace_scope() not in (None, 0, 1):
        pytest.skip(f"kernel.yama.ptrace_scope is {ptrace_scope()}: no unprivileged control is possible")
    return _control(fn, target, tuple(sorted(victim.items())))


def records(hub, event, syscall=None):
    return [r for r in hub.audit_find(event, user=hub.alice) if syscall is None or r.get("syscall") == syscall]


def expect_audit(hub, kernel, event, syscall, before, path=None):
    if event == SECCOMP and not kernel.logging:
        pytest.xfail("the sandbox has only runc's filter: refusals are not logged (see test_90)")

    def found():
        return [r for r in records(hub, event, syscall)[before:] if path is None or r.get("path") == path]
    try:
        recs = nbw.wait_until(found, 5, what=f"{event} {syscall or path}")
    except AssertionError as e:
        recent = [{k: r.get(k) for k in ("event", "syscall", "path", "blockers", "pid")}
                  for r in hub.audit_records() if str(r.get("event", "")).startswith("sandbox.")][-25:]
        raise AssertionError(f"{e}; recent sandbox records: {recent}")
    return recs


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", list(ATTACKS))
def test_process_attack_refused_and_audited(hub, kernel, victim, name, target):
    fn, (want, event, syscall) = ATTACKS[name]
    got, detail = result_of(control(fn, target, victim))
    assert got == "ok", f"control: '{name}' does not work on the unprotected host either: {detail}"

    pid = {"parent (the Jupyter server)": kernel.ppid, "pid 1": 1}.get(target)
    before = len(records(hub, event, syscall))
    out = nbw.run_cell(kernel, f"attack({fn}, {target_expr(target, victim)})")
    assert out["error"] is None, out
    got, detail = result_of(out["stdout"])
    if (name, target) in INVISIBLE:
        assert (got, detail) == ("refused", INVISIBLE[(name, target)]), \
            f"'{name}' against the host process from inside the sandbox: {got} {detail}"
        return
    assert (got, detail) == ("refused", want), f"'{name}' against {target} inside the sandbox: {got} {detail}"
    if event == SECCOMP:
        recs = expect_audit(hub, kernel, event, syscall, before)
    else:
        path = f"/proc/{pid}/mem" if pid is not None else None
        recs = expect_audit(hub, kernel, event, None, before, path)
        assert all(re.fullmatch(r"/proc/[0-9]+/mem", r.get("path") or "") for r in recs), recs
    assert any(r.get("pid") == kernel.host_pid for r in recs), (kernel.host_pid, recs)


def test_host_process_invisible_in_sandbox(hub, kernel, victim):
    """A host process of the sandbox user's own host uid: no /proc entry to find and no
    /proc/PID/mem to open (invisibility, not a denial: nothing is audited)."""
    # Control: the host process exists, and a process of the same uid reads its secret
    # through /proc/PID/mem (classic ptrace rules; with Yama's scope 1 only its parent could).
    if ptrace_scope() in (None, 0):
        got, detail = result_of(on_host(f"attack(a_proc_mem_read, {target_expr('host process', victim)})",
                                        victim["uid"], victim["gid"]))
        assert got == "ok", f"control: the host process's memory is not readable on the host: {detail}"
    if ptrace_scope() in (None, 0, 1):
        got, detail = result_of(on_host("attack(a_proc_mem_read, child_target())"))
        assert got == "ok", f"control: an unprivileged parent cannot read its child's /proc/PID/mem: {detail}"
    assert f"nbw-e2e-victim-{victim['tag']}" in " ".join(nbw.proc_cmdline(victim["pid"]) or [])
    out = nbw.run_cell(kernel, f'''
found = []
for p in os.listdir('/proc'):
    if p.isdigit():
        try:
            if {victim['tag']!r}.encode() in open('/proc/%s/cmdline' % p, 'rb').read():
                found.append(p)
        except OSError:
            pass
print('FOUND', found, os.path.exists('/proc/{victim["pid"]}'))
attack(a_proc_mem_read, {target_expr('host process', victim)})
''')
    assert out["error"] is None, out
    assert f"FOUND [] False\n" in out["stdout"], out
    got, detail = result_of(out["stdout"])
    assert (got, detail) == ("refused", "ENOENT"), f"/proc/PID/mem of the host process: {got} {detail}"


def test_positive_control_own_memory(hub, kernel):
    """The kernel still reads and writes its own memory (the refusals above are about other processes)."""
    out = nbw.run_cell(kernel, "b = ctypes.create_string_buffer(b'own-memory-0016', 16)\n"
                               "attack(a_proc_mem_read, Target(os.getpid(), ctypes.addressof(b), b.raw, b.raw))\n")
    assert result_of(out["stdout"])[0] == "ok", out
