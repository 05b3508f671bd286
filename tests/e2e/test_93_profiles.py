"""Profiles (singleuser.profileList, as in Zero to JupyterHub).

The spawn form lists the profiles; POST /hub/api/users/NAME/server takes
{"profile": "slug"}; an unknown slug is a 400 naming the choices; without a
profile the default one is used. The monitor applies the chosen profile's
kubespawner_override (cpu_limit, mem_limit, pids_limit, cpu_guarantee,
mem_guarantee) to the pod's cgroups, read here from the host, and gives only
that profile's sandboxes its devices. The global limits (1G, 1 core, 300 pids) differ from
every profile's, so a profile that was not applied cannot pass.
"""

import os
import signal
import stat

import pytest

import nbw
from conftest import start_own_daemon, stop_own_daemon, token_of
from test_40_spawn import cgroup_file

# A stand-in for a GPU node: a character device (1,3: the null device) under a
# name only this test uses, created on the host for the module and removed after.
DEVICE = f"/dev/nbwtest-gpu-{os.getpid()}"

PROFILES = [
    {"display_name": "Small", "slug": "small", "description": "<b>half</b> a core & 512M",
     "kubespawner_override": {"cpu_limit": 0.5, "mem_limit": "512M", "pids_limit": 128,
                              "cpu_guarantee": 0.25, "mem_guarantee": "256M", "devices": [DEVICE]}},
    {"display_name": "Medium", "slug": "medium", "default": True, "description": "the default",
     "kubespawner_override": {"mem_limit": "768M", "pids_limit": 200}},
]


@pytest.fixture(scope="module")
def device():
    os.mknod(DEVICE, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(DEVICE, 0o666)
    try:
        yield DEVICE
    finally:
        os.unlink(DEVICE)


@pytest.fixture(scope="module")
def prof(device):
    user = f"pia-{nbw.run_tag()}"
    d = start_own_daemon("profiles", {
        "singleuser": {"pids": {"limit": 300}, "memory": {"limit": "1G"}, "cpu": {"limit": 1},
                       "profileList": PROFILES},
    }, users=(user,))
    d.user, d.tok = user, token_of(d, user)
    yield d
    stop_own_daemon(d, "profiles daemon")


def limits(d):
    init, _ = d.server_pids(d.user)
    assert init, "no container"
    mem = int(cgroup_file(init, "memory", "memory.limit_in_bytes"))
    pids = cgroup_file(init, "pids", "pids.max")
    quota = int(cgroup_file(init, "cpu", "cpu.cfs_quota_us"))
    period = int(cgroup_file(init, "cpu", "cpu.cfs_period_us"))
    return mem, pids, quota / period


def guarantees(d):
    init, _ = d.server_pids(d.user)
    shares = int(cgroup_file(init, "cpu", "cpu.shares"))
    soft = int(cgroup_file(init, "memory", "memory.soft_limit_in_bytes"))
    return shares, soft


DEVICE_PROBE = f"""
import os
p = {DEVICE!r}
try:
    with open(p, 'r+b', buffering=0) as f:
        f.write(b'x'); print('DEVICE rw', len(f.read(4)))
except OSError as e:
    print('DEVICE', type(e).__name__, e.errno)
"""


def device_seen(d):
    out = nbw.run_in_new_kernel(d, d.user, DEVICE_PROBE, token=d.tok)
    assert out["error"] is None, out
    return [l for l in out["stdout"].splitlines() if l.startswith("DEVICE")][-1]


def spawn(d, body):
    r = d.api("POST", f"/users/{d.user}/server", token=d.tok, **({"json": body} if body is not None else {}))
    assert r.status_code in (201, 202), f"{r.status_code} {r.text[:300]}"
    d.wait_ready(d.user, d.tok)
    return d.server_model(d.user, d.tok)


def test_unknown_profile_is_400_naming_the_choices(prof):
    r = prof.api("POST", f"/users/{prof.user}/server", token=prof.tok, json={"profile": "huge"})
    assert r.status_code == 400, r.text
    assert r.json()["message"] == 'Unknown profile "huge"; choose one of: small, medium'
    r = prof.api("POST", f"/users/{prof.user}/server", token=prof.tok, json={"profile": 3})
    assert r.status_code == 400 and "must be a string" in r.json()["message"]
    assert prof.server_model(prof.user, prof.tok) is None, "a rejected spawn started something"


def test_default_profile_without_options(prof):
    s = spawn(prof, None)
    try:
        assert s["user_options"] == {"profile": "medium"}, s
        mem, pids, cpu = limits(prof)
        assert mem == 768 << 20, f"memory limit {mem}"
        assert pids == "200", f"pids.max {pids}"
        assert abs(cpu - 1.0) < 0.01, f"cpu {cpu}"  # not overridden: the global 1 core
        shares, soft = guarantees(prof)
        assert shares == 1024, f"cpu.shares {shares}"  # no guarantee: the kernel's default weight
        assert soft > 1 << 50, f"memory soft limit {soft}"  # none
        # the device of another profile does not exist here
        assert device_seen(prof) == "DEVICE FileNotFoundError 2"
    finally:
        prof.stop_server(prof.user, prof.tok)


def test_chosen_profile_is_applied(prof):
    s = spawn(prof, {"profile": "small"})
    try:
        assert s["user_options"] == {"profile": "small"}, s
        mem, pids, cpu = limits(prof)
        assert mem == 512 << 20, f"memory limit {mem}"
        assert pids == "128", f"pids.max {pids}"
        assert abs(cpu - 0.5) < 0.01, f"cpu {cpu}"
        shares, soft = guarantees(prof)
        assert shares == 256, f"cpu.shares {shares}"  # 0.25 of a core's 1024
        assert soft == 256 << 20, f"memory soft limit {soft}"
        # the profile's device is there, and usable
        assert device_seen(prof) == "DEVICE rw 0", "the profile's device is missing or unusable"
        # a restarted hub learns the running server's profile from the monitor
        old = prof.hub_pids()
        assert len(old) == 1, old
        old_start = nbw.proc_starttime(old[0])
        os.kill(old[0], signal.SIGKILL)

        def new_hub():
            now = [q for q in prof.hub_pids() if not (q == old[0] and nbw.proc_starttime(q) == old_start)]
            return now or None
        new = nbw.wait_until(new_hub, 15, what="a new hub process")
        prof.seen[new[0]] = nbw.proc_starttime(new[0])

        def model():
            try:
                return prof.server_model(prof.user, prof.tok)
            except Exception:  # the new hub may not listen yet
                return None
        s = nbw.wait_until(model, 15, what="the server model from the new hub")
        assert s["user_options"] == {"profile": "small"}, s
    finally:
        prof.stop_server(prof.user, prof.tok)


def test_spawn_form_lists_profiles(prof):
    sess, r = prof.login(prof.user)
    assert r.status_code == 302, r.status_code
    page = sess.get(prof.url + "/hub/home").text
    assert '<input type="radio" name="profile" value="small"> <strong>Small</strong>' in page, page
    assert '<input type="radio" name="profile" value="medium" checked> <strong>Medium</strong>' in page, page
    assert "&lt;b&gt;half&lt;/b&gt; a core &amp; 512M" in page
    assert "<b>half</b>" not in page
