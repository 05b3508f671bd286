"""Runtime failures of the tools a spawn depends on.

A runtime `delete` that fails is retried; the server is only forgotten once
its container is gone, so a stop never leaves a running pod behind. A pod's
output is bounded. A spawn without mkfs.ext4 or without a usable loop device
fails at once naming the cause (progress stream, audit record, log), leaves
nothing mounted or attached, and the same daemon spawns once the tool is back."""
import os
import re
import socket
import subprocess
import tempfile

import pytest

import nbw
from test_80_errors import start_with_user, assert_no_user_leftovers, spawn_expect_failure

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


# ---- home volume tools missing -------------------------------------------------
#
# volume.c looks for mkfs.ext4 only in the fixed "/usr/sbin:/sbin" (not $PATH, no
# setting) and opens the fixed /dev/loop-control. Neither can be moved through the
# daemon's environment or configuration, and the host's own files must not be
# touched, so the daemon runs in a mount namespace of its own (host mounts
# propagate in, none out) in which one of them is covered by a bind mount. The
# host keeps its mkfs.ext4 and loop devices; covering and uncovering happen only
# where the daemon looks.

COVER = """#!/bin/sh
# test wrapper: nbwarden in a mount namespace of its own where {target} is covered by {src}
exec /usr/bin/unshare --mount --propagation slave -- /bin/sh -c \\
  'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh {src} {target} {real} "$@"
"""


def start_covered(d, src, target):
    """Start d (one user, d.user/d.tok) with `target` covered by `src` in the daemon's mount namespace."""
    real = d.bin
    wrapper = os.path.join(d.base, "nbwarden-covered")
    with open(wrapper, "w") as f:
        f.write(COVER.format(src=src, target=target, real=real))
    os.chmod(wrapper, 0o755)
    d.user = f"gina-{nbw.run_tag()}"
    d.write_config()
    d.bin = wrapper
    try:
        d.start()  # unshare and sh exec in place: d.proc.pid is the monitor
    finally:
        d.bin = real
    assert nbw.proc_cmdline(d.monitor_pid)[0] == real, nbw.proc_cmdline(d.monitor_pid)
    assert target in daemon_mounts(d), f"{target} is not covered in the daemon's namespace"
    assert target not in nbw.mountinfo_points(), f"{target} is covered on the host too"
    d.add_user(d.user)
    d.tok = d.issue_token(d.user)
    return d


def uncover(d, target):
    """The tool is back: remove the cover in the running daemon's own mount namespace."""
    r = subprocess.run(["nsenter", "--target", str(d.monitor_pid), "--mount", "umount", target],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert target not in daemon_mounts(d)


def daemon_mounts(d):
    """Mount points as the daemon (and the runc it starts) sees them."""
    with open(f"/proc/{d.monitor_pid}/mountinfo") as f:
        return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), l.split()[4]) for l in f]


def loop_devices_of(d):
    """Loop devices whose backing file is below this daemon's directory."""
    out = []
    for dev in sorted(os.listdir("/sys/block")):
        try:
            with open(f"/sys/block/{dev}/loop/backing_file") as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.startswith(d.base + "/"):
            out.append((dev, backing))
    return out


def volume_files(d):
    vd = os.path.join(d.state_dir, "volumes")
    return sorted(os.listdir(vd)) if os.path.isdir(vd) else []


def assert_volume_released(d):
    assert_no_user_leftovers(d)  # the host's view
    mine = [m for m in daemon_mounts(d) if m.startswith(d.base + "/")]
    assert not mine, f"mounted in the daemon's namespace: {mine}"
    assert not loop_devices_of(d), f"loop devices still attached: {loop_devices_of(d)}"


def failure_everywhere(d, msgs, rec, cause):
    """The cause is named in the progress stream, the API, the audit record and the daemon's log."""
    assert re.search(cause, msgs[0]), f"progress stream: {msgs[0]!r}"
    assert re.search(cause, rec.get("reason", "")), f"audit record: {rec}"
    assert re.search(cause, d.stderr_text()), d.log_tail()
    # a failed start stays on display: a new progress stream reports it at once
    again = d.progress(d.user, token=d.tok, timeout=10)
    assert again[-1].get("failed") is True and re.search(cause, again[-1].get("message", "")), again
    # and the user's home page says why
    sess, r = d.login(d.user)
    assert r.status_code == 302, r.status_code
    page = nbw.html_unescape(sess.get(d.url + "/hub/home", allow_redirects=False).text)
    assert "The last start failed" in page and re.search(cause, page), page[-1500:]


def spawn_works_now(d):
    d.ensure_server(d.user, d.tok)
    home = os.path.join(d.state_dir, "homes", d.user)
    assert home in daemon_mounts(d), "the home volume is not mounted in the daemon's namespace"
    assert loop_devices_of(d), "no loop device holds the home volume"  # the checks above can see one
    d.stop_server(d.user, d.tok)
    assert_volume_released(d)


def test_spawn_without_mkfs(daemon_factory):
    """No mkfs.ext4 where volume.c looks: the spawn fails at once naming the tool and its
    package, leaves no half-made image, the daemon stays up, and once mkfs.ext4 is back
    the same daemon starts the server."""
    mkfs = os.path.realpath("/usr/sbin/mkfs.ext4")  # a link to mke2fs; /sbin is /usr/sbin on merged-/usr
    if not os.path.isfile(mkfs):
        pytest.skip("the host has no mkfs.ext4 (install e2fsprogs)")
    d = start_covered(daemon_factory("no-mkfs"), "/dev/null", mkfs)  # a device, not an executable file
    msgs, elapsed, rec = spawn_expect_failure(d)
    cause = re.escape("creating the home volume failed: mkfs.ext4 not found in /usr/sbin:/sbin "
                      "(install e2fsprogs; home volumes need it)")
    failure_everywhere(d, msgs, rec, cause)
    assert elapsed < 10, f"a missing mkfs.ext4 took {elapsed:.1f}s to report"
    assert volume_files(d) == [], f"a half-made volume image is left: {volume_files(d)}"
    assert_volume_released(d)

    uncover(d, mkfs)
    spawn_works_now(d)
    assert volume_files(d) == [f"claim-{d.user}.img"], volume_files(d)


@pytest.mark.parametrize("how", ["no loop driver", "loop-control refuses"])
def test_spawn_without_loop_device(daemon_factory, how):
    """/dev/loop-control unusable (a node without its driver: ENXIO on open; or a file that
    is not loop-control: LOOP_CTL_GET_FREE fails): the spawn fails naming the loop device,
    nothing is mounted or attached, the image made by mkfs is kept, the daemon stays up,
    and once the loop device is back the same daemon starts the server."""
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("the host has no /dev/loop-control")
    d = daemon_factory("no-loop")
    if how == "no loop driver":
        src = os.path.join(d.base, "loop-control")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(src)  # open(2) of a socket inode fails with ENXIO, like a node whose driver is absent
        s.close()
        cause = r"mounting the home volume failed: no loop device support \(/dev/loop-control: No such device"
    else:
        src = "/dev/null"
        cause = r"mounting the home volume failed: no free loop device for claim-gina-[0-9a-f]+: Inappropriate ioctl"
    start_covered(d, src, "/dev/loop-control")
    msgs, elapsed, rec = spawn_expect_failure(d)
    failure_everywhere(d, msgs, rec, cause)
    assert elapsed < 20, f"no loop device took {elapsed:.1f}s to report"
    assert volume_files(d) == [f"claim-{d.user}.img"], volume_files(d)  # the user's volume, kept
    assert_volume_released(d)

    uncover(d, "/dev/loop-control")
    spawn_works_now(d)
