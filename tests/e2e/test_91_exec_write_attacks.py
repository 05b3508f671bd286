"""Execution and write attacks from a notebook cell (issue 3, inline enforcement).

Each attack runs in a real user's kernel through the proxy and must fail there.
Each exec attack is also run, unchanged, directly on the host as an unprivileged
uid without nbwarden-guard and must succeed there, so a pass cannot come from
code that never worked. Writes to /usr and /etc are refused by the read-only
mounts and DAC before Landlock; their control is the same operation on a file
the user owns, inside the same kernel. The friendly IPython message is checked
together with the kernel enforcement behind it (bypassing the message still fails).
"""

import os
import shutil
import subprocess
import tempfile

import pytest

import nbw
from conftest import alice_kernel, token_of

MESSAGE = "Shell commands are disabled in this environment. Use Python libraries instead."

PRELUDE = r'''
import os, sys, shutil, subprocess, ctypes
H = os.environ.get('NBW_HOME') or os.path.expanduser('~')
T = os.environ.get('NBW_TMP') or '/tmp'
PY = os.path.realpath(sys.executable)
LDSO = os.path.realpath('/lib64/ld-linux-x86-64.so.2')
def res(ok, detail=''):
    print('RESULT', 'ok' if ok else 'denied', detail)
def run(argv):
    try:
        r = subprocess.run(argv, capture_output=True, timeout=60)
        return r.returncode, r.stdout, r.stderr[-300:]
    except OSError as e:
        return None, b'', str(e).encode()
'''

COPIED_PY = r'''
dst = os.path.join({d}, 'py-copy')
shutil.copy(PY, dst); os.chmod(dst, 0o755)
rc, out, err = run([dst, '-I', '-S', '-c', 'print(42)'])
res(out == b'42\n', (rc, err))
'''

USER_SO = r'''
dst = os.path.join({d}, 'libmine.so')
shutil.copy(os.path.realpath('/usr/lib/x86_64-linux-gnu/libz.so.1'), dst)
try:
    ctypes.CDLL(dst); res(True)
except OSError as e:
    res(False, str(e)[-120:])
'''

EXEC_ATTACKS = {
    "os.system": r'''
rc = os.system('id >/dev/null 2>&1')
res(rc == 0, rc)
''',
    "subprocess /bin/ls": r'''
rc, out, err = run(['/bin/ls', '/'])
res(rc == 0, (rc, err))
''',
    "ctypes execve /bin/sh": r'''
libc = ctypes.CDLL(None, use_errno=True)
pid = os.fork()
if pid == 0:
    argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', b'exit 7', None)
    libc.execve(b'/bin/sh', argv, None)
    os._exit(100 + ctypes.get_errno())
_, st = os.waitpid(pid, 0)
res(os.WEXITSTATUS(st) == 7, os.WEXITSTATUS(st))
''',
    "copied interpreter in home": COPIED_PY.format(d="H"),
    "copied interpreter in /tmp": COPIED_PY.format(d="T"),
    "memfd + fexecve": r'''
try:
    fd = os.memfd_create('x')
    with open(PY, 'rb') as f:
        os.write(fd, f.read())
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ['py', '-I', '-S', '-c', 'raise SystemExit(7)'], {})
        except OSError as e:
            os._exit(100 + e.errno)
    _, st = os.waitpid(pid, 0)
    res(os.WEXITSTATUS(st) == 7, os.WEXITSTATUS(st))
except OSError as e:
    res(False, e.errno)
''',
    "user .so from home": USER_SO.format(d="H"),
    "user .so from /tmp": USER_SO.format(d="T"),
    "ld.so ./file": r'''
dst = os.path.join(H, 'py-ld')
shutil.copy(PY, dst)
os.chdir(H)
rc, out, err = run([LDSO, './py-ld', '-I', '-S', '-c', 'print(42)'])
res(out == b'42\n', (rc, err))
''',
    "ld.so /usr/bin/id": r'''
rc, out, err = run([LDSO, '/usr/bin/id'])
res(rc == 0 and b'uid=' in out, (rc, err))
''',
}

WRITE_ATTACKS = {
    "create /usr/bin/x": "open('/usr/bin/nbw-x', 'w')",
    "create /etc/x": "open('/etc/nbw-x', 'w')",
    "append to the stdlib": "open(os.__file__, 'a')",
    "chmod the interpreter": "os.chmod(PY, 0o777)",
    "truncate the stdlib": "os.truncate(os.__file__, 0)",
    "rename in the stdlib": "os.rename(os.__file__, os.__file__ + '.x')",
    # the socket dir is a host directory: nothing but the server's socket may be made there
    "file in the socket dir": "open('/run/nbwarden/junk', 'w')",
    "dir in the socket dir": "os.mkdir('/run/nbwarden/d')",
    "link in the socket dir": "os.symlink('/etc/passwd', '/run/nbwarden/l')",
}


def result_of(text):
    lines = [l for l in text.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, f"no single RESULT line in: {text!r}"
    return lines[0].split(" ", 2)[1], lines[0]


def run_on_host_unprivileged(code):
    """The same cell code directly on the host, as uid/gid 65534, no guard."""
    d = tempfile.mkdtemp(prefix="nbw-attack-control-")
    try:
        os.chmod(d, 0o755)
        home, tmp = os.path.join(d, "home"), os.path.join(d, "tmp")
        for p in (home, tmp):
            os.mkdir(p)
            os.chown(p, 65534, 65534)

        def drop():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "NBW_HOME": home, "NBW_TMP": tmp, "LANG": "C.UTF-8"}
        r = subprocess.run(["/usr/bin/python3", "-c", PRELUDE + code], capture_output=True, text=True,
                           env=env, cwd=home, preexec_fn=drop, timeout=120)
        return r.stdout + r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def kernel(_main_daemon):
    ws, _ = alice_kernel(_main_daemon, PRELUDE)
    yield ws
    ws.close()


def cell(ws, code):
    out = nbw.run_cell(ws, code)
    return out


@pytest.mark.parametrize("name", list(EXEC_ATTACKS))
def test_exec_attack_refused(hub, kernel, name):
    code = EXEC_ATTACKS[name]
    control = run_on_host_unprivileged(code)
    verdict, line = result_of(control)
    assert verdict == "ok", f"control: '{name}' does not even work on the unprotected host: {control}"
    out = cell(kernel, code)
    assert out["error"] is None, out
    verdict, line = result_of(out["stdout"])
    assert verdict == "denied", f"'{name}' succeeded inside the sandbox: {line}"
    if name in EXEC_AUDITED:
        # Refused by the noexec mount before Landlock: the monitor's own audit
        # rules make the kernel report it, with the path as the cell named it.
        where = cell(kernel, f"print({EXEC_AUDITED[name]})")["stdout"].strip()
        want = where + "/py-copy"
        hub.wait_audit("sandbox.exec.denied", user=hub.alice, path=want, timeout=10)


# exec attacks whose refusal (EACCES from the noexec mount) must be in the audit log with the path
EXEC_AUDITED = {"copied interpreter in home": "H", "copied interpreter in /tmp": "T"}
# write attacks whose refusal must be in the audit log: the kernel names the directory
# in which the creation was refused (its PATH record for a file that does not exist)
WRITE_AUDITED = {"create /usr/bin/x": ("/usr/bin/", "/usr/bin/nbw-x"), "create /etc/x": ("/etc/", "/etc/nbw-x")}


@pytest.mark.parametrize("name", list(WRITE_ATTACKS))
def test_write_attack_refused(hub, kernel, name):
    op = WRITE_ATTACKS[name]
    # Control: the same operation on a file the user owns works in this kernel.
    own = ("_t = os.path.join(H, 'own-copy.py'); shutil.copy(os.__file__, _t)\n"
           + op.replace("'/usr/bin/nbw-x'", "os.path.join(H, 'nbw-x')").replace("'/etc/nbw-x'", "os.path.join(H, 'nbw-y')")
           .replace("'/run/nbwarden/junk'", "os.path.join(H, 'junk')")
           .replace("'/run/nbwarden/d'", "os.path.join(H, 'd')").replace("'/run/nbwarden/l'", "os.path.join(H, 'l')")
           .replace("os.__file__", "_t").replace("PY,", "_t,"))
    out = cell(kernel, f"try:\n    {own.replace(chr(10), chr(10) + '    ')}\n    res(True)\nexcept OSError as e:\n"
                       f"    res(False, e.errno)\n")
    assert result_of(out["stdout"])[0] == "ok", f"control for '{name}' failed: {out}"
    out = cell(kernel, f"try:\n    {op}\n    res(True)\nexcept OSError as e:\n    res(False, e.errno)\n")
    verdict, line = result_of(out["stdout"])
    assert verdict == "denied", f"'{name}' succeeded inside the sandbox: {line}"
    if name in WRITE_AUDITED:
        paths = WRITE_AUDITED[name]
        recs = nbw.wait_until(lambda: [r for r in hub.audit_find("sandbox.write.denied", user=hub.alice)
                                       if r.get("path") in paths and r.get("syscall") in ("openat", None)],
                              10, what=f"sandbox.write.denied for {paths}")
        assert recs, recs


def test_stdlib_and_interpreter_unchanged(hub, kernel):
    out = cell(kernel, "import hashlib\nprint(os.path.getsize(os.__file__) > 1000, oct(os.stat(PY).st_mode & 0o777))")
    assert out["stdout"] == "True 0o755\n", out


@pytest.mark.parametrize("code", ["!ls /", "%system ls /", "%%bash\nls /", "x = !ls /\nprint('x', x)",
                                  "%sx ls /"])
def test_ipython_shell_escape_friendly_message(hub, kernel, code):
    out = cell(kernel, code)
    text = out["stdout"] + out["stderr"]
    assert MESSAGE in text, out
    assert "bin" not in out["stdout"].replace("x []", ""), out


def test_friendly_message_is_not_the_enforcement(hub, kernel):
    """Undo the IPython courtesy in the cell: the kernel still refuses the shell."""
    out = cell(kernel, "from IPython.core.interactiveshell import InteractiveShell\n"
                       "ip = get_ipython()\n"
                       "try:\n"
                       "    InteractiveShell.system_raw(ip, 'echo shell-ran')\n"
                       "except OSError as e:\n"
                       "    print('refused', e.errno)\n")
    assert "shell-ran" not in out["stdout"], out
    assert "refused 13" in out["stdout"] or out["error"], out


def test_positive_controls(hub, kernel):
    out = cell(kernel, "import math\nprint(sum(i * i for i in range(100)), round(math.pi, 4))")
    assert out["stdout"] == "328350 3.1416\n", out
    out = cell(kernel, "p = os.path.join(H, 'written.txt')\nopen(p, 'w').write('hello')\n"
                       "print(open(p).read(), os.path.getsize(p))")
    assert out["stdout"] == "hello 5\n", out
    # The Jupyter contents API (the UI's file browser) works under the guard.
    user, tok = hub.alice, token_of(hub, hub.alice)
    url = hub.url + f"/user/{user}/api/contents/e2e-guard.txt"
    h = {"Authorization": f"token {tok}"}
    r = nbw.requests.put(url, json={"type": "file", "format": "text", "content": "via contents"}, headers=h,
                         timeout=20)
    assert r.status_code in (200, 201), r.text[:300]
    r = nbw.requests.get(url, headers=h, timeout=20)
    assert r.status_code == 200 and r.json()["content"] == "via contents", r.text[:300]
    r = nbw.requests.get(hub.url + f"/user/{user}/api/contents", headers=h, timeout=20)
    assert r.status_code == 200 and any(c["name"] == "e2e-guard.txt" for c in r.json()["content"])


def test_server_runs_under_landlock(hub, kernel):
    """The kernel process is inside a Landlock domain (not merely unprivileged)."""
    out = cell(kernel, "print(open('/proc/self/status').read().count('NoNewPrivs:\\t1'))\n"
                       "print(os.access('/usr/bin/ls', os.R_OK), os.path.exists('/usr/bin/ls'))\n"
                       "try:\n    open('/usr/bin/ls', 'rb')\nexcept OSError as e:\n    print('read', e.errno)\n")
    # DAC says readable; Landlock refuses the open (programs are not readable).
    assert out["stdout"] == "1\nTrue True\nread 13\n", out


KAUDIT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "monitor", "kaudit.c")


@pytest.mark.skipif(not os.path.exists(KAUDIT), reason="the monitor's kernel audit reader (src/monitor/kaudit.c) "
                    "has not landed yet")
def test_exec_denial_audited(hub, kernel):
    out = cell(kernel, "rc, o, e = run(['/bin/ls', '/'])\nprint('ls', rc)")
    assert "ls None" in out["stdout"], out
    recs = hub.wait_audit("sandbox.exec.denied", user=hub.alice, timeout=10)
    assert any("ls" in str(r.get("path", "")) for r in recs), recs


@pytest.mark.skipif(not os.path.exists(KAUDIT), reason="the monitor's kernel audit reader (src/monitor/kaudit.c) "
                    "has not landed yet")
def test_memfd_denial_audited(hub, kernel):
    """The guard's memfd filter carries SECCOMP_FILTER_FLAG_LOG: the refusal is a record."""
    out = cell(kernel, "try:\n    os.memfd_create('audit-me')\nexcept OSError as e:\n    print('memfd', e.errno)\n")
    assert out["stdout"] == "memfd 1\n", out
    hub.wait_audit("sandbox.syscall.denied", user=hub.alice, syscall="memfd_create", timeout=10)
