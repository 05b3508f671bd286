"""A runtime `delete` that fails is retried; the server is only forgotten once
its container is gone, so a stop never leaves a running pod behind."""
import os
import re
import subprocess
import tempfile

import nbw
from test_80_errors import start_with_user, assert_no_user_leftovers

WRAPPER = """#!/bin/sh
# test wrapper around runc: the first {fails} `delete` calls fail
for a in "$@"; do [ "$a" = delete ] && isdel=1; done
if [ -n "$isdel" ]; then
  n=$(cat {dir}/count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {dir}/count
  [ $n -le {fails} ] && {{ echo "injected delete failure $n" >&2; exit 1; }}
fi
exec /usr/sbin/runc "$@"
"""


def make_wrapper(fails):
    d = tempfile.mkdtemp(prefix="nbw-e2e-rt-", dir="/tmp")
    os.chmod(d, 0o755)
    path = os.path.join(d, "runc-wrapper")
    with open(path, "w") as f:
        f.write(WRAPPER.format(dir=d, fails=fails))
    os.chmod(path, 0o755)  # root-owned, not writable by others: the monitor accepts it
    return d, path


def delete_calls(d):
    try:
        with open(os.path.join(d, "count")) as f:
            return int(f.read())
    except FileNotFoundError:
        return 0


def test_failed_delete_is_retried(daemon_factory):
    wdir, wrapper = make_wrapper(fails=2)
    d = start_with_user(daemon_factory("delete-retry", {"singleuser": {"runtime": wrapper}}))
    d.ensure_server(d.user, d.tok)
    assert d.user_containers(d.user), "the pod runs"
    d.stop_server(d.user, d.tok)
    # two injected failures, then the real delete
    assert delete_calls(wdir) == 3, delete_calls(wdir)
    assert_no_user_leftovers(d)
    err = d.stderr_text()
    assert len(re.findall(r"delete' for '%s' failed .*retrying" % re.escape(d.user), err)) == 2, err[-2000:]
    rec = d.wait_audit("server.stop", user=d.user)
    assert rec


def test_delete_failing_for_good_is_reported(daemon_factory):
    wdir, wrapper = make_wrapper(fails=100)
    d = start_with_user(daemon_factory("delete-fails", {"singleuser": {"runtime": wrapper}}))
    d.ensure_server(d.user, d.tok)
    d.stop_server(d.user, d.tok)
    assert delete_calls(wdir) == 3, "three attempts, then the monitor gives up"
    assert "may still exist" in d.stderr_text()
    # clean up the pod the injected failures left behind, as an operator would
    for c in d.user_containers(d.user):
        subprocess.run(["runc", "--root", "/run/nbwarden/runc", "delete", "--force", c["id"]], check=False)
    nbw.wait_until(lambda: not d.user_containers(d.user), 20, what="pod removed by hand")


def test_pod_output_is_bounded(daemon_factory):
    """A pod cannot fill the host's disk through its stdout/stderr: the monitor
    drains it into the server log up to 16 MiB per start."""
    chatty = ["/usr/bin/python3", "-c",
              "import sys, time\n"
              "chunk = 'x' * 65535 + '\\n'\n"
              "for _ in range(640): sys.stdout.write(chunk)\n"   # 40 MiB
              "sys.stdout.flush()\n"
              "print('done writing', flush=True)\n"
              "time.sleep(600)\n"]
    d = start_with_user(daemon_factory("chatty", {"singleuser": {"cmd": chatty, "startTimeout": 8}}))
    r = d.api("POST", f"/users/{d.user}/server", token=d.tok, json={})
    assert r.status_code in (201, 202), r.text
    d.wait_audit("server.spawn.failure", user=d.user, timeout=60)
    # the hub hears of the failure once the pod is deleted and cleaned up
    nbw.wait_until(lambda: not (d.server_model(d.user, d.tok) or {}).get("pending"), 30,
                   what="failed spawn cleaned up")
    log = os.path.join(d.state_dir, "logs", f"{d.user}.log")
    size = os.path.getsize(log)
    assert size <= (16 << 20) + 4096, f"server log grew to {size} bytes"
    with open(log, "rb") as f:
        f.seek(max(0, size - 4096))
        assert b"log limit reached" in f.read()
    # the pod was not blocked by a full pipe: it got past its 40 MiB of output
    assert "done writing" not in open(log, errors="replace").read()[-4096:]
    assert_no_user_leftovers(d)
