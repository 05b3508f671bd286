"""SIGKILL the hub process: the monitor restarts it, user servers survive and are reachable again."""

import os
import signal
import time

import nbw
from conftest import token_of
from test_40_spawn import create_kernel, open_channels


def test_hub_killed_and_restarted(hub, alice_server, alice_browser):
    user, tok = hub.alice, token_of(hub, hub.alice)
    # a browser with a server cookie and a running kernel before the crash
    r = alice_browser.get(hub.url + f"/user/{user}/api/status")
    assert r.status_code == 200
    hub.note_cookies(alice_browser)
    kid = create_kernel(hub, user, token=tok)
    init, pids = hub.server_pids(user)
    assert init
    starts = {p: nbw.proc_starttime(p) for p in pids}
    old = hub.hub_pids()
    assert len(old) == 1, old
    old_start = nbw.proc_starttime(old[0])

    os.kill(old[0], signal.SIGKILL)
    t0 = time.monotonic()

    def new_hub():
        pids_now = [p for p in hub.hub_pids() if not (p == old[0] and nbw.proc_starttime(p) == old_start)]
        return pids_now if pids_now else None
    new = nbw.wait_until(new_hub, 15, what="a new hub process")
    assert hub.running(), "the monitor died with its hub"
    assert len(new) == 1, new
    hub.seen[new[0]] = nbw.proc_starttime(new[0])
    st = nbw.proc_status(new[0])
    assert st["Uid"].split() == [str(nbw.HUB_UID_DEFAULT)] * 4 and st["NoNewPrivs"] == "1", st

    # the sandbox never noticed
    for p, s in starts.items():
        assert nbw.pid_alive(p, s), f"server process {p} died with the hub"

    def reachable():
        try:
            r = nbw.requests.get(hub.url + f"/user/{user}/api/kernels/{kid}",
                                 headers={"Authorization": f"token {tok}"}, timeout=5, allow_redirects=False)
            return r.status_code == 200
        except nbw.requests.RequestException:
            return False
    nbw.wait_until(reachable, 20, interval=0.05, what="alice's server reachable through the restarted hub")
    elapsed = time.monotonic() - t0
    m = hub.server_model(user, tok)
    assert m and m["ready"] is True, f"after the hub restart the API says {m}"
    # the browser's session and server cookies still work (state is in SQLite)
    r = alice_browser.get(hub.url + f"/user/{user}/api/status", allow_redirects=False)
    assert r.status_code == 200, f"server cookie after hub restart: {r.status_code}"
    r = alice_browser.get(hub.url + "/hub/home", allow_redirects=False)
    assert r.status_code == 200
    # and the kernel still executes over a new WebSocket
    ws = open_channels(hub, user, kid, token=tok)
    try:
        out = nbw.run_cell(ws, "print('after restart')")
    finally:
        ws.close()
    assert out["stdout"] == "after restart\n", out
    hub.wait_audit("kernel.execute", msg_id=out["msg_id"])
    assert elapsed < 20
