"""What the host looks like from a notebook cell (issue 3): nothing of it is reachable.

Each probe runs in a real user's kernel through the proxy and must find the
host's object absent or refused; its control shows the object exists and works
on the host (as root where only root could, else as the unprivileged uid 65534),
so a pass cannot come from a probe that never worked.
"""

import os
import socket
import subprocess

import pytest

import nbw
from conftest import alice_kernel

PRELUDE = r'''
import os, errno, socket, ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def res(reachable, detail=''):
    print('RESULT', 'reachable' if reachable else 'refused', detail)
def err(e):
    return errno.errorcode.get(e.errno, e.errno)
'''


def result_of(text):
    lines = [l for l in text.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, f"no single RESULT line in: {text!r}"
    return lines[0].split(" ", 2)[1], lines[0]


def cmdline_raw(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def on_host(code, unprivileged=True):
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    r = subprocess.run(["/usr/bin/python3", "-c", PRELUDE + code], capture_output=True, text=True, cwd="/",
                       env={"PATH": "/usr/bin:/bin"}, preexec_fn=drop if unprivileged else None, timeout=60)
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def kernel(_main_daemon):
    ws, _ = alice_kernel(_main_daemon, PRELUDE)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def marker(_main_daemon):
    """A file in the host's /root only root can see, and an abstract unix socket listening on the host."""
    tag = nbw.run_tag()
    path = f"/root/.nbw-e2e-marker-{tag}"
    with open(path, "w") as f:
        f.write("host secret\n")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(f"\0nbw-e2e-{tag}")
    s.listen(8)
    yield {"path": path, "abstract": f"nbw-e2e-{tag}"}
    s.close()
    os.unlink(path)


def probes(hub, m):
    host, port = hub.url.split("//")[1].split(":")
    return {
        # name: (probe, control run on the host, control as root?)
        "/etc/shadow of the host": (r'''
host_line = %r
try:
    t = open('/etc/shadow').read(); res(host_line in t, 'read')
except OSError as e:
    res(False, err(e))
''' % open("/etc/shadow").read().splitlines()[0], True),
        "the host's /root": (f'''
try:
    open({m["path"]!r}).read(); res(True)
except OSError as e:
    res(False, err(e))
''', True),
        "the state_dir with other users' homes": (f'''
p = {os.path.join(hub.state_dir, "homes", hub.bob)!r}
res(os.path.exists(p) or os.path.exists({hub.state_dir!r}), p)
''', True),
        "host processes in /proc": (r'''
daemon = %r
found = []
for p in os.listdir('/proc'):
    if p.isdigit():
        try:
            c = open('/proc/%%s/cmdline' %% p, 'rb').read()
        except OSError:
            continue
        if c == daemon:
            found.append(p)
res(bool(found), found)
''' % cmdline_raw(hub.proc.pid), False),
        "signal to a host pid": (f'''
try:
    os.kill({os.getppid()}, 0); res(True)
except OSError as e:
    res(e.errno != errno.ESRCH, err(e))
''', True),
        "the hub's TCP port on 127.0.0.1": (f'''
s = socket.socket()
s.settimeout(3)
try:
    s.connect(({host!r}, {port})); res(True)
except OSError as e:
    res(False, err(e) if e.errno else 'timeout')
''', False),
        "/run/dbus of the host": (r'''
res(os.path.exists('/run/dbus/system_bus_socket') or os.path.exists('/run/systemd/private'))
''', None),
        "an abstract unix socket of the host": (f'''
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect({chr(0) + m["abstract"]!r}); res(True)
except OSError as e:
    res(False, err(e))
''', False),
        "kernel log (syslog READ_ALL)": (r'''
buf = ctypes.create_string_buffer(4096)
r = libc.klogctl(3, buf, 4096)
res(r >= 0, ctypes.get_errno())
''', True),
        "mknod of a character device": (r'''
import tempfile
p = os.path.join(os.environ.get('NBW_TMP') or '/tmp', 'nbw-null-%d' % os.getpid())
try:
    os.mknod(p, 0o600 | 0o020000, os.makedev(1, 3)); os.unlink(p); res(True)
except OSError as e:
    res(False, err(e))
''', True),
        "write to /proc/sys": (r'''
try:
    with open('/proc/sys/kernel/hostname', 'w') as f:
        f.write(open('/proc/sys/kernel/hostname').read())
    res(True)
except OSError as e:
    res(False, err(e))
''', True),
        "write to /proc/sysrq-trigger": (r'''
try:
    fd = os.open('/proc/sysrq-trigger', os.O_WRONLY); os.close(fd); res(True)
except OSError as e:
    res(False, err(e))
''', None if not os.path.exists("/proc/sysrq-trigger") else True),  # no control on a kernel without it
        "cgroup release_agent": (r'''
import glob
hits = glob.glob('/sys/fs/cgroup/*/release_agent') + glob.glob('/sys/fs/cgroup/release_agent')
w = []
for p in hits:
    try:
        fd = os.open(p, os.O_WRONLY); os.close(fd); w.append(p)
    except OSError:
        pass
res(bool(w), (len(hits), w))
''', True),
        "addresses in /proc/kallsyms": (r'''
try:
    lines = open('/proc/kallsyms').read().splitlines()[:200]
    res(any(int(l.split()[0], 16) for l in lines), len(lines))
except OSError as e:
    res(False, err(e))
''', True),
        "ptrace attach to another process": (r'''
libc.ptrace.restype = ctypes.c_long
r = libc.ptrace(16, os.getppid(), None, None)
res(r == 0, ctypes.get_errno())
''', None),
    }


# Controls that need the host's pid (the test process), its marker or root are set up per probe.
NAMES = ["/etc/shadow of the host", "the host's /root", "the state_dir with other users' homes",
         "host processes in /proc", "signal to a host pid", "the hub's TCP port on 127.0.0.1",
         "/run/dbus of the host", "an abstract unix socket of the host", "kernel log (syslog READ_ALL)",
         "mknod of a character device", "write to /proc/sys", "write to /proc/sysrq-trigger",
         "cgroup release_agent", "addresses in /proc/kallsyms", "ptrace attach to another process"]


@pytest.mark.parametrize("name", NAMES)
def test_host_object_unreachable(hub, kernel, marker, name):
    code, root = probes(hub, marker)[name]
    if root is not None:
        control = on_host(code, unprivileged=not root)
        assert result_of(control)[0] == "reachable", f"control: '{name}' does not work on the host either: {control}"
    out = nbw.run_cell(kernel, code)
    assert out["error"] is None, out
    got, line = result_of(out["stdout"])
    assert got == "refused", f"'{name}' from inside the sandbox: {line}"
