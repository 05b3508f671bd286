"""The hub runs detached from the operator's terminal and dies with the monitor.

Attacks shown to matter: a hub sharing the monitor's session and terminal can
TIOCSTI keystrokes into the root shell that started nbwarden; a hub that
outlives its monitor keeps serving with nobody supervising it.
"""
import os
import signal
import socket
import struct
import time

import pytest

import nbw
from conftest import new_daemon, finish_daemon


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # fields after the ")" of comm: state ppid pgrp session tty_nr ...
    rest = data[data.rindex(")") + 2:].split()
    return {"ppid": int(rest[1]), "pgrp": int(rest[2]), "session": int(rest[3]), "tty_nr": int(rest[4])}


@pytest.fixture
def daemon():
    d = new_daemon("privsep")
    d.start()
    yield d
    problems = finish_daemon(d)
    assert not problems, problems


def test_hub_has_own_session_and_no_terminal(daemon):
    hubs = daemon.hub_pids()
    assert len(hubs) == 1
    hub, mon = stat_fields(hubs[0]), stat_fields(daemon.monitor_pid)
    assert hub["session"] == hubs[0], "the hub leads its own session (setsid)"
    assert hub["session"] != mon["session"]
    assert hub["tty_nr"] == 0, "the hub has no controlling terminal"
    assert os.readlink(f"/proc/{hubs[0]}/fd/0") == "/dev/null"
    # stdout/stderr go to a pipe the monitor relays, not to the operator's terminal or file
    assert os.readlink(f"/proc/{hubs[0]}/fd/2").startswith("pipe:")


def test_hub_output_relayed_without_control_characters(daemon):
    # The hub's own log lines reach the daemon's stderr through the monitor.
    nbw.wait_until(lambda: "nbwarden-hub" in daemon.stderr_text(), 10, what="hub log relayed")
    assert "\x1b" not in daemon.stderr_text()


def test_hub_dies_with_the_monitor(daemon):
    hub = daemon.hub_pids()[0]
    start = nbw.proc_starttime(hub)
    os.kill(daemon.monitor_pid, signal.SIGKILL)
    daemon.proc.wait(timeout=10)
    nbw.wait_until(lambda: not nbw.pid_alive(hub, start), 5, what="hub gone after the monitor died")
    # restart so the fixture's SIGTERM teardown (and leftover checks) run normally
    time.sleep(0.2)
    daemon.start()


def kernel_audit_enabled():
    """audit_enabled from AUDIT_GET (netlink), as auditctl -s shows it."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)  # NETLINK_AUDIT
    try:
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16, 1000, 1, 1, 0))  # AUDIT_GET, NLM_F_REQUEST
        for _ in range(4):
            d = s.recv(4096)
            if struct.unpack("=H", d[4:6])[0] == 1000:
                return struct.unpack("=I", d[20:24])[0]
    finally:
        s.close()
    raise AssertionError("no AUDIT_GET answer")


def audit_set_enabled(value):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    try:
        s.bind((0, 0))
        status = struct.pack("=10I", 1, value, 0, 0, 0, 0, 0, 0, 0, 0)  # mask=AUDIT_STATUS_ENABLED
        s.send(struct.pack("=IHHII", 16 + len(status), 1001, 1, 2, 0) + status)  # AUDIT_SET
    finally:
        s.close()


def test_kernel_audit_setting_restored():
    """The monitor turns kernel auditing on for Landlock's records; it must
    leave the host's setting as it found it."""
    if kernel_audit_enabled() == 2:
        pytest.skip("kernel audit configuration is locked (enabled=2)")
    before = kernel_audit_enabled()
    d = new_daemon("auditflag")
    audit_set_enabled(0)
    try:
        try:
            d.start()
            nbw.wait_until(lambda: kernel_audit_enabled() == 1, 10, what="kernel audit enabled by the monitor")
        finally:
            problems = finish_daemon(d)  # stop it whatever happened above
        assert not problems, problems
        assert kernel_audit_enabled() == 0, "the monitor left kernel auditing switched on"
    finally:
        audit_set_enabled(before)
