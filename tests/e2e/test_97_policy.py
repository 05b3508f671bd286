"""The runtime policy as configuration (singleuser.securityPolicy, KubeArmor semantics).

One daemon, one profile per policy. Each test spawns the user's server with a
profile, runs code in a real kernel, and asserts what the kernel allowed or
refused and what the audit log recorded. Every refusal is paired with a
control: the same attempt under a profile without the rule succeeds, so the
rule (not something else) is what refuses.
"""

import time

import pytest

import nbw
from conftest import start_own_daemon, stop_own_daemon, token_of
from test_40_spawn import create_kernel, open_channels

KAUDIT_REFILL = 4.5  # seconds: KAUDIT_BURST / KAUDIT_RATE (src/monitor/kaudit.h), and a little

BASE = {"display_name": "Base", "slug": "base", "default": True}

PROFILES = [
    BASE,
    # network Audit in a profile of its own: a kernel's ZMQ sockets make it chatty
    {"display_name": "Net audit", "slug": "netaudit", "kubespawner_override": {"security_policy": {
        "rules": [{"network": {"matchProtocols": [{"protocol": "tcp"}]}, "action": "Audit"}]}}},
    # the whole of /usr/bin may run, but not ls
    {"display_name": "Tools", "slug": "tools", "kubespawner_override": {"security_policy": {
        "rules": [{"process": {"matchDirectories": [{"dir": "/usr/bin/", "recursive": True}],
                               "matchPaths": [{"path": "/usr/bin/ls", "action": "Block"}]},
                   "action": "Allow"}]}}},
    # the same without the Block: the control
    {"display_name": "Tools, no block", "slug": "tools-open", "kubespawner_override": {"security_policy": {
        "rules": [{"process": {"matchDirectories": [{"dir": "/usr/bin/", "recursive": True}]}, "action": "Allow"}]}}},
    # Audit: allowed and recorded; network Block and Audit; a file Block inside a readable tree
    {"display_name": "Audited", "slug": "audited", "kubespawner_override": {"security_policy": {
        "landlock": "require",
        "rules": [
            {"process": {"matchPaths": [{"path": "/usr/bin/id"}]}, "action": "Audit"},
            {"file": {"matchDirectories": [{"dir": "/home/jovyan/watched/", "recursive": True}]}, "action": "Audit"},
            {"file": {"matchDirectories": [{"dir": "/usr/share/common-licenses/", "recursive": True}]},
             "action": "Block"},
            {"network": {"matchProtocols": [{"protocol": "udp", "action": "Block"}]}},
        ]}}},
    # audit posture for processes: anything below /usr runs, and is recorded
    {"display_name": "Posture", "slug": "posture", "kubespawner_override": {"security_policy": {
        "defaultPosture": {"process": "audit"}}}},
]

PRELUDE = r'''
import errno, os, socket, subprocess
def run(argv):
    try:
        p = subprocess.run(argv, capture_output=True, timeout=20)
        return 'ran %d' % p.returncode
    except OSError as e:
        return 'refused %s' % errno.errorcode.get(e.errno, e.errno)
def sock(kind):
    try:
        socket.socket(socket.AF_INET, kind).close()
        return 'ok'
    except OSError as e:
        return 'refused %s' % errno.errorcode.get(e.errno, e.errno)
def read(p):
    try:
        with open(p, 'rb') as f:
            return 'read %d' % len(f.read(16))
    except OSError as e:
        return 'refused %s' % errno.errorcode.get(e.errno, e.errno)
'''


@pytest.fixture(scope="module")
def pol():
    user = f"pol-{nbw.run_tag()}"
    d = start_own_daemon("policy", {"singleuser": {"profileList": PROFILES}}, users=(user,))
    d.user, d.tok = user, token_of(d, user)
    yield d
    stop_own_daemon(d, "policy daemon")


class Server:
    def __init__(self, d, profile):
        self.d, self.profile = d, profile

    def __enter__(self):
        d = self.d
        r = d.api("POST", f"/users/{d.user}/server", token=d.tok, json={"profile": self.profile})
        assert r.status_code in (201, 202), f"{r.status_code} {r.text[:300]}"
        d.wait_ready(d.user, d.tok)
        kid = create_kernel(d, d.user, token=d.tok)
        self.ws = open_channels(d, d.user, kid, token=d.tok)
        out = nbw.run_cell(self.ws, PRELUDE)
        assert out["error"] is None, out
        # A starting kernel probes the network (uname, ip, ifconfig, a UDP socket), and each
        # refusal or audited use is a record: let the sandbox's record buckets refill (burst 20,
        # 5 a second) so that the records this test waits for are not the ones suppressed.
        time.sleep(KAUDIT_REFILL)
        return self

    def run(self, expr):
        out = nbw.run_cell(self.ws, f"print({expr})")
        assert out["error"] is None, out
        return out["stdout"].strip()

    def __exit__(self, *exc):
        try:
            self.ws.close()
        finally:
            self.d.stop_server(self.d.user, self.d.tok)


def test_block_inside_an_allowed_directory(pol):
    with Server(pol, "tools") as s:
        assert s.run("run(['/usr/bin/id'])") == "ran 0"  # the Allow
        assert s.run("run(['/usr/bin/ls', '/'])") == "refused EACCES"  # the Block
        pol.wait_audit("sandbox.exec.denied", user=pol.user, path="/usr/bin/ls")
    with Server(pol, "tools-open") as s:  # control: without the Block, ls runs
        assert s.run("run(['/usr/bin/ls', '/'])") == "ran 0"
    with Server(pol, "base") as s:  # and without the Allow, nothing of /usr/bin runs
        assert s.run("run(['/usr/bin/id'])") == "refused EACCES"


def test_audit_allows_and_records(pol):
    with Server(pol, "audited") as s:
        n = len(pol.audit_find("sandbox.exec.audited", user=pol.user))
        assert s.run("run(['/usr/bin/id'])") == "ran 0"
        recs = pol.wait_audit("sandbox.exec.audited", user=pol.user, path="/usr/bin/id")
        assert isinstance(recs[-1].get("pid"), int)
        # a file below an audited directory: read and written, and recorded
        s.run("os.makedirs('/home/jovyan/watched', exist_ok=True) or open('/home/jovyan/watched/f', 'w').write('x')")
        assert s.run("read('/home/jovyan/watched/f')") == "read 1"
        pol.wait_audit("sandbox.file.audited", user=pol.user, path="/home/jovyan/watched/f")
        # what is not audited is not recorded
        assert s.run("read('/home/jovyan/other') if os.path.exists('/home/jovyan/other') else 'none'") == "none"
        assert not pol.audit_find("sandbox.exec.audited", user=pol.user, path="/usr/bin/python3.11")
        assert len(pol.audit_find("sandbox.exec.audited", user=pol.user)) >= n + 1


def test_file_block_inside_a_readable_tree(pol):
    lic = "/usr/share/common-licenses/GPL-3"
    with Server(pol, "audited") as s:
        assert s.run(f"read({lic!r})") == "refused EACCES"
        assert s.run("read('/usr/share/dict/words') if os.path.exists('/usr/share/dict/words') else "
                     "read('/usr/share/mime/packages/freedesktop.org.xml') if "
                     "os.path.exists('/usr/share/mime/packages/freedesktop.org.xml') else 'read 16'") == "read 16"
    with Server(pol, "base") as s:  # control
        assert s.run(f"read({lic!r})") == "read 16"


def test_network_block_and_audit(pol):
    with Server(pol, "audited") as s:
        def denials():
            return pol.audit_find("sandbox.syscall.denied", user=pol.user, syscall="socket")
        n = len(denials())
        assert s.run("sock(socket.SOCK_DGRAM)") == "refused EACCES"
        # the seccomp refusal's record names the syscall (it carries no arguments)
        nbw.wait_until(lambda: len(denials()) > n, 10, what="the socket() refusal in the audit log")
        assert s.run("sock(socket.SOCK_STREAM)") == "ok"  # only UDP is blocked
    with Server(pol, "netaudit") as s:
        assert s.run("sock(socket.SOCK_STREAM)") == "ok"
        pol.wait_audit("sandbox.network.audited", user=pol.user, protocol="tcp")
    with Server(pol, "base") as s:  # control: UDP sockets work without the rule
        assert s.run("sock(socket.SOCK_DGRAM)") == "ok"


def test_audit_posture(pol):
    with Server(pol, "posture") as s:
        assert s.run("run(['/usr/bin/ls', '/'])") == "ran 0"
        pol.wait_audit("sandbox.exec.audited", user=pol.user, path="/usr/bin/ls")
        # what the baseline allows (the interpreter) is not noise in the log
        assert s.run("run(['/usr/bin/python3', '-c', 'pass'])") == "ran 0"
        assert not [r for r in pol.audit_find("sandbox.exec.audited", user=pol.user)
                    if "python3" in str(r.get("path"))]
        # noexec mounts are not policy: a copy in home still cannot run
        s.run("__import__('shutil').copy('/usr/bin/true', '/home/jovyan/t') or os.chmod('/home/jovyan/t', 0o755)")
        assert s.run("run(['/home/jovyan/t'])") == "refused EACCES"
