"""SIGTERM to the monitor: every user server stopped, nothing left behind."""

import nbw
from conftest import token_of


def test_sigterm_leaves_nothing_behind(hub):
    users = (hub.alice, hub.bob)
    for u in users:
        hub.ensure_server(u, token_of(hub, u))
    for u in users:
        init, pids = hub.server_pids(u)
        assert init, f"{u} has no running container before SIGTERM"
    hub.remember_processes()
    assert len(hub.seen) >= 4
    n_stop = {u: len(hub.audit_find("server.stop", user=u)) for u in users}
    rc = hub.stop()
    assert rc == 0, f"nbwarden serve exited with {rc} after SIGTERM"
    left = hub.leftovers()
    assert not left, "left behind after SIGTERM:\n  " + "\n  ".join(left)
    for u in users:
        assert len(hub.audit_find("server.stop", user=u)) == n_stop[u] + 1, f"no server.stop for {u} at shutdown"
    leaks = hub.secret_leaks()
    assert not leaks, "; ".join(leaks)
