"""Home volumes (claim-NAME): a filesystem of the configured capacity per user.

A user's home is an ext4 image of singleuser.storage.capacity, loop-mounted on
state_dir/homes/NAME (sandbox.h). Filling it gives the cell ENOSPC and nothing
else breaks; crossing 80 % is audited once per crossing; the data survives stop
and start; every user has their own image; after SIGTERM no mount and no loop
device of ours is left. The same disk-filling write succeeds without the volume
(a plain directory), which is what the volume protects against.
"""

import json
import os
import subprocess
import tempfile
import time

import pytest

import nbw
from conftest import start_own_daemon, stop_own_daemon, token_of
from test_80_errors import spawn_expect_failure, start_with_user

CAPACITY = 64 << 20
MiB = 1 << 20

# The same writer runs in a cell and on the host: unbuffered 1 MiB writes, fsync.
FILL_CODE = r'''
import os, errno
def fill(path, mb):
    done = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"x" * (1 << 20)
        for _ in range(mb):
            os.write(fd, chunk)
            done += 1
        os.fsync(fd)
        return "OK %d" % done
    except OSError as e:
        return "ERR %s %d" % (errno.errorcode.get(e.errno, e.errno), done)
    finally:
        os.close(fd)
'''


@pytest.fixture(scope="module")
def storage():
    tag = nbw.run_tag()
    dana, eve = f"dana-{tag}", f"eve-{tag}"
    d = start_own_daemon("storage", {"singleuser": {"storage": {"capacity": "64M"}}}, users=(dana, eve))
    d.dana, d.eve = dana, eve
    yield d
    stop_own_daemon(d, "storage daemon")


def running(d, u):
    if not d.running():
        d.start()
    return d.ensure_server(u, token_of(d, u))


def cell(d, user, code, timeout=120):
    out = nbw.run_in_new_kernel(d, user, code, token=token_of(d, user), timeout=timeout)
    assert out["error"] is None, f"cell failed: {out}"
    return out["stdout"].strip()


def mount_of(path):
    """(source, fstype, per-mount options, super options) of the mount at path, or None."""
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            mp = parts[4].replace("\\040", " ")
            if mp == path:
                found = (parts[sep + 2], parts[sep + 1], parts[5].split(","), parts[sep + 3].split(","))
    return found


def loops_backed_by(prefix):
    out = {}
    for dev in os.listdir("/sys/block"):
        if not dev.startswith("loop"):
            continue
        try:
            with open(f"/sys/block/{dev}/loop/backing_file") as f:
                bf = f.read().strip()
        except OSError:
            continue
        if bf.startswith(prefix):
            out["/dev/" + dev] = bf
    return out


def losetup_mentions(prefix):
    r = subprocess.run(["losetup", "-a"], capture_output=True, text=True, timeout=30)
    return [l for l in r.stdout.splitlines() if prefix in l]


def image_of(d, u):
    return os.path.join(d.state_dir, "volumes", f"claim-{u}.img")


def home_of(d, u):
    return os.path.join(d.state_dir, "homes", u)


def warnings_of(d, u):
    return d.audit_find("storage.quota.warning", user=u)


def test_home_is_a_volume_of_the_configured_capacity(storage):
    d, u = storage, storage.dana
    running(d, u)
    m = mount_of(home_of(d, u))
    assert m, f"{home_of(d, u)} is not a mount point"
    source, fstype, opts, _ = m
    assert fstype == "ext4", m
    assert source.startswith("/dev/loop"), m
    assert "nosuid" in opts and "nodev" in opts, m
    with open(os.path.join(d.state_dir, "bundles", u, "config.json")) as f:
        spec = json.load(f)
    home = [x for x in spec["mounts"] if x["destination"] == "/home/jovyan"][0]
    if "noexec" in home.get("options", []):
        assert "noexec" in opts, f"the pod's home is noexec but the host mount is not: {m}"
    img = image_of(d, u)
    st = os.lstat(img)
    assert st.st_uid == 0 and (st.st_mode & 0o7777) == 0o600, oct(st.st_mode)
    assert st.st_size == CAPACITY
    assert st.st_blocks * 512 < CAPACITY // 2, "the image is not sparse"
    assert oct(os.stat(os.path.join(d.state_dir, "volumes")).st_mode & 0o777) == "0o700"
    assert loops_backed_by(img) == {source: img}

    # Seen from inside: its own filesystem, at most the capacity, writable.
    out = cell(d, u, "import os\nv = os.statvfs('/home/jovyan')\n"
                     "print(v.f_blocks * v.f_frsize, os.stat('/home/jovyan').st_dev != os.stat('/tmp').st_dev)\n"
                     "open('/home/jovyan/hello.txt', 'w').write('hi')\nprint(os.listdir('/home/jovyan'))")
    lines = out.splitlines()
    total, separate = lines[0].split()
    assert 48 * MiB < int(total) <= CAPACITY, out
    assert separate == "True", out
    assert "lost+found" not in lines[1], f"mkfs's root-owned lost+found is visible in the home: {out}"


def test_full_volume_gives_enospc_and_one_warning_per_crossing(storage):
    d, u = storage, storage.dana
    running(d, u)
    assert not warnings_of(d, u), "a warning before the volume was filled"
    out = cell(d, u, FILL_CODE + "print(fill('/home/jovyan/fill1', 50))")
    assert out == "OK 50", out
    rec = d.wait_audit("storage.quota.warning", timeout=15, user=u)[0]
    assert rec["capacity_bytes"] == CAPACITY, rec
    assert rec["percent"] >= 80 and rec["used_bytes"] >= 50 * MiB, rec
    assert rec.get("claim") == f"claim-{u}", rec

    # Past the capacity: ENOSPC for the writer...
    out = cell(d, u, FILL_CODE + "print(fill('/home/jovyan/fill2', 64))")
    assert out.startswith("ERR ENOSPC"), out
    # ...and nothing else breaks: the contents API, the running kernel, a new kernel.
    r = nbw.requests.get(d.url + f"/user/{u}/api/contents", headers={"Authorization": f"token {token_of(d, u)}"},
                         timeout=30)
    assert r.status_code == 200, r.status_code
    assert "fill1" in [x["name"] for x in r.json()["content"]]
    assert cell(d, u, "print(6 * 7)") == "42"
    r = nbw.requests.get(d.url + "/hub/api/", timeout=10)
    assert r.status_code < 500

    # Several check periods later, still exactly one warning for this crossing.
    time.sleep(5)
    assert len(warnings_of(d, u)) == 1, warnings_of(d, u)

    # Below 75 % the warning re-arms: the next crossing is audited again, once.
    assert cell(d, u, "import os\nos.remove('/home/jovyan/fill1'); os.remove('/home/jovyan/fill2')\nprint('ok')") == "ok"
    nbw.wait_until(lambda: not os.path.exists(os.path.join(d.state_dir, "volumes", f"claim-{u}.warned")), 15,
                   what="the quota warning re-armed")
    out = cell(d, u, FILL_CODE + "print(fill('/home/jovyan/fill3', 50))")
    assert out == "OK 50", out
    nbw.wait_until(lambda: len(warnings_of(d, u)) == 2, 15, what="a second warning for the second crossing")
    time.sleep(3)
    assert len(warnings_of(d, u)) == 2
    assert cell(d, u, "import os\nos.remove('/home/jovyan/fill3')\nprint('ok')") == "ok"


def test_disk_filling_works_without_the_volume():
    """The attack without the protection: the same writer, as an unprivileged uid in a
    plain directory on the host's disk, writes far past 64 MiB."""
    base = tempfile.mkdtemp(prefix="nbw-e2e-nofence-", dir="/tmp")
    try:
        os.chmod(base, 0o777)
        code = FILL_CODE + f"print(fill({os.path.join(base, 'big')!r}, 80))"
        r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=120,
                           user=65534, group=65534)
        assert r.stdout.strip() == "OK 80", (r.stdout, r.stderr)
        assert os.path.getsize(os.path.join(base, "big")) == 80 * MiB
    finally:
        subprocess.run(["rm", "-rf", base], check=False)


def test_data_survives_stop_and_start(storage):
    d, u = storage, storage.dana
    running(d, u)
    marker = nbw._secrets.token_hex(8)
    h = {"Authorization": f"token {token_of(d, u)}"}
    r = nbw.requests.put(d.url + f"/user/{u}/api/contents/keep.txt", headers=h, timeout=30,
                         json={"type": "file", "format": "text", "content": marker})
    assert r.status_code in (200, 201), (r.status_code, r.text[:300])
    ino = os.stat(image_of(d, u)).st_ino
    d.stop_server(u, token_of(d, u))
    nbw.wait_until(lambda: mount_of(home_of(d, u)) is None, 15, what="home unmounted after stop")
    assert not loops_backed_by(image_of(d, u)), "loop device left after the server stopped"
    assert os.listdir(home_of(d, u)) == [], "the mount point underneath is not empty"
    st = os.stat(home_of(d, u))
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o700, "the mount point must be root's"

    running(d, u)
    assert os.stat(image_of(d, u)).st_ino == ino, "the image was recreated"
    r = nbw.requests.get(d.url + f"/user/{u}/api/contents/keep.txt", headers=h, timeout=30)
    assert r.status_code == 200 and r.json()["content"] == marker, (r.status_code, r.text[:300])


def test_other_user_has_another_image(storage):
    d = storage
    running(d, d.dana)
    running(d, d.eve)
    md, me = mount_of(home_of(d, d.dana)), mount_of(home_of(d, d.eve))
    assert md and me and md[0] != me[0], (md, me)
    loops = loops_backed_by(os.path.join(d.state_dir, "volumes") + "/")
    assert loops.get(md[0]) == image_of(d, d.dana) and loops.get(me[0]) == image_of(d, d.eve), loops
    assert os.stat(home_of(d, d.dana)).st_dev != os.stat(home_of(d, d.eve)).st_dev
    # eve's writes land in eve's volume only
    assert cell(d, d.eve, "open('/home/jovyan/eve-only.txt', 'w').write('e')\nprint('ok')") == "ok"
    assert os.path.exists(os.path.join(home_of(d, d.eve), "eve-only.txt"))
    assert not os.path.exists(os.path.join(home_of(d, d.dana), "eve-only.txt"))


def test_sigterm_releases_every_volume(storage):
    d = storage
    running(d, d.dana)
    running(d, d.eve)
    assert len(loops_backed_by(d.base + "/")) == 2
    rc = d.stop()
    assert rc == 0, rc
    mounts = [mp for mp in nbw.mountinfo_points() if mp == d.base or mp.startswith(d.base + "/")]
    assert not mounts, f"mounts left after SIGTERM: {mounts}"
    assert not loops_backed_by(d.base + "/"), loops_backed_by(d.base + "/")
    assert not losetup_mentions(d.base), losetup_mentions(d.base)
    # the images stay (like a PVC)
    assert os.path.getsize(image_of(d, d.dana)) == CAPACITY


def test_image_on_a_full_disk_fails_cleanly(daemon_factory):
    d = daemon_factory("storage-full", {"singleuser": {"storage": {"capacity": "64M"}}})
    small = os.path.join(d.base, "small")
    os.makedirs(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M,mode=0755", "tmpfs", small], check=True)
    try:
        d.state_dir = os.path.join(small, "state")
        d.settings["hub"]["state_dir"] = d.state_dir
        start_with_user(d)
        # The disk is full but for 256 KiB: enough for the hub's and the slot's few
        # writes, not for a filesystem's metadata.
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\1" * 65536)
                    f.flush()
            except OSError:
                pass
        os.truncate(filler, max(0, os.path.getsize(filler) - 256 * 1024))
        msgs, _, rec = spawn_expect_failure(d)
        assert "home volume" in msgs[0] and "No space left" in msgs[0], msgs
        assert "home volume" in rec.get("reason", ""), rec
        vols = os.path.join(d.state_dir, "volumes")
        assert os.listdir(vols) == [], f"a half-made image was left: {os.listdir(vols)}"
        assert not loops_backed_by(d.base + "/")
        assert mount_of(os.path.join(d.state_dir, "homes", d.user)) is None
        os.remove(os.path.join(small, "filler"))
        assert d.stop() == 0
    finally:
        if d.running():
            d.stop()
        subprocess.run(["umount", small], check=False)


def test_home_from_before_volumes_is_refused(daemon_factory):
    d = start_with_user(daemon_factory("storage-legacy", {"singleuser": {"storage": {"capacity": "64M"}}}))
    old = os.path.join(d.state_dir, "homes", d.user)
    os.makedirs(old)
    with open(os.path.join(old, "notebook.ipynb"), "w") as f:
        f.write("{}")
    msgs, _, rec = spawn_expect_failure(d)
    assert "before home volumes" in msgs[0] and old in msgs[0], msgs
    assert os.path.exists(os.path.join(old, "notebook.ipynb")), "the old home was touched"
    assert not os.path.exists(image_of(d, d.user)), "an image was made although the spawn was refused"
