"""Profiles (singleuser.profileList, as in Zero to JupyterHub).

The spawn form lists the profiles; POST /hub/api/users/NAME/server takes
{"profile": "slug"}; an unknown slug is a 400 naming the choices; without a
profile the default one is used. The monitor applies the chosen profile's
kubespawner_override (cpu_limit, mem_limit, pids_limit) to the pod's cgroups,
read here from the host. The global limits (1G, 1 core, 300 pids) differ from
every profile's, so a profile that was not applied cannot pass.
"""

import json

import pytest

import nbw
from conftest import finish_daemon, new_daemon
from test_40_spawn import cgroup_file

PROFILES = [
    {"display_name": "Small", "slug": "small", "description": "<b>half</b> a core & 512M",
     "kubespawner_override": {"cpu_limit": 0.5, "mem_limit": "512M", "pids_limit": 128}},
    {"display_name": "Medium", "slug": "medium", "default": True, "description": "the default",
     "kubespawner_override": {"mem_limit": "768M", "pids_limit": 200}},
]


@pytest.fixture(scope="module")
def prof():
    d = new_daemon("profiles", {
        "singleuser": {"pids": {"limit": 300}, "memory": {"limit": "1G"}, "cpu": {"limit": 1}},
    })
    d.user = f"pia-{nbw.run_tag()}"
    text = nbw.to_yaml(d.settings) + "\n"
    assert "\nsingleuser:\n" in "\n" + text
    text = ("\n" + text).replace("\nsingleuser:\n", "\nsingleuser:\n  profileList: " + json.dumps(PROFILES) + "\n",
                                 1)[1:]
    d.write_config(text)
    try:
        d.start()
        d.add_user(d.user)
        d.tok = d.issue_token(d.user)
    except BaseException:
        d.kill_everything()
        raise
    yield d
    problems = finish_daemon(d)
    if problems:
        pytest.fail("profiles daemon teardown:\n  " + "\n  ".join(problems))


def limits(d):
    init, _ = d.server_pids(d.user)
    assert init, "no container"
    mem = int(cgroup_file(init, "memory", "memory.limit_in_bytes"))
    pids = cgroup_file(init, "pids", "pids.max")
    quota = int(cgroup_file(init, "cpu", "cpu.cfs_quota_us"))
    period = int(cgroup_file(init, "cpu", "cpu.cfs_period_us"))
    return mem, pids, quota / period


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
