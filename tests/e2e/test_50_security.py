"""Refusals: other users, anonymous clients, bad tokens, missing XSRF, cross-site WebSockets, bounds."""

import socket

import pytest
import websocket

import nbw
from conftest import token_of
from test_40_spawn import create_kernel, open_channels


def get(hub, path, token=None, **kw):
    headers = dict(kw.pop("headers", {}) or {})
    if token:
        headers["Authorization"] = f"token {token}"
    kw.setdefault("allow_redirects", False)
    return nbw.requests.get(hub.url + path, headers=headers, timeout=20, **kw)


def raw_request(hub, request_bytes, timeout=10):
    with socket.create_connection(("127.0.0.1", hub.port), timeout=timeout) as s:
        s.sendall(request_bytes)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return data


def status_of(raw):
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


def test_other_user_token_refused_on_proxy(hub, alice_server, bob_server):
    r = get(hub, f"/user/{hub.bob}/api/status", token=token_of(hub, hub.alice))
    assert r.status_code == 403, r.status_code
    r = get(hub, f"/user/{hub.bob}/api/contents", token=token_of(hub, hub.alice))
    assert r.status_code == 403


def test_other_user_websocket_refused(hub, bob_server):
    kid = create_kernel(hub, hub.bob, token=token_of(hub, hub.bob))
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        open_channels(hub, hub.bob, kid, token=token_of(hub, hub.alice))
    assert e.value.status_code == 403


def test_other_user_browser_refused(hub, alice_server, bob_server, alice_browser):
    r = alice_browser.get(hub.url + f"/user/{hub.bob}/api/status")
    assert r.status_code == 403, f"alice's browser reached bob's server: {r.status_code} via " \
        f"{[(h.status_code, h.headers.get('Location')) for h in r.history]}"
    assert not [c for c in alice_browser.cookies if c.name == "nbwarden-server" and hub.bob in c.path]


def test_own_server_cookie_does_not_open_other_server(hub, alice_server, bob_server, alice_browser):
    alice_browser.get(hub.url + f"/user/{hub.alice}/api/status")
    mine = [c for c in alice_browser.cookies if c.name == "nbwarden-server"]
    assert mine, "no server cookie after the browser flow"
    stolen = nbw.Session()
    stolen.cookies.set("nbwarden-server", mine[0].value, path=f"/user/{hub.bob}/")
    stolen.cookies.set("nbwarden-session", alice_browser.cookies.get("nbwarden-session"), path="/hub/")
    r = stolen.get(hub.url + f"/user/{hub.bob}/api/status", allow_redirects=False)
    assert r.status_code in (302, 403), r.status_code
    r = stolen.get(hub.url + f"/user/{hub.bob}/api/status")
    assert r.status_code == 403, r.status_code


def test_admin_reaches_any_server(hub, alice_server):
    r = get(hub, f"/user/{hub.alice}/api/status", token=token_of(hub, hub.admin))
    assert r.status_code == 200, r.status_code


def test_anonymous_browser_redirected_to_login(hub, alice_server):
    r = get(hub, f"/user/{hub.alice}/tree")
    assert r.status_code == 302
    netloc, path, query = nbw.location_path(r)
    assert path == "/hub/login" and "next=" in query


def test_anonymous_api_client_gets_403(hub, alice_server):
    r = nbw.requests.post(hub.url + f"/user/{hub.alice}/api/kernels", json={"name": "python3"}, timeout=20,
                          allow_redirects=False)
    assert r.status_code == 403, f"anonymous POST: {r.status_code}"
    r = get(hub, f"/user/{hub.alice}/api/status", headers={"Accept": "application/json"})
    assert r.status_code == 403, f"anonymous JSON client: {r.status_code}"
    kid = create_kernel(hub, hub.alice, token=token_of(hub, hub.alice))
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        open_channels(hub, hub.alice, kid)
    assert e.value.status_code == 403


@pytest.mark.parametrize("auth", ["token nbw_" + "C" * 43, "token garbage", "Bearer x"])
def test_bad_token_refused_on_proxy(hub, alice_server, auth):
    r = get(hub, f"/user/{hub.alice}/api/status", headers={"Authorization": auth})
    assert r.status_code == 403, r.status_code


def test_token_in_url_refused_on_proxy(hub, alice_server):
    r = get(hub, f"/user/{hub.alice}/api/status?token={token_of(hub, hub.alice)}")
    assert r.status_code != 200, "a hub token in the URL opened the server"


@pytest.mark.parametrize("path", [
    "/user/{a}/../{b}/api/status",
    "/user/{a}/%2e%2e/{b}/api/status",
    "/user/{a}/..%2f{b}/api/status",
    "/user/{a}%2f..%2f{b}/api/status",
    "/user//{b}/api/status",
])
def test_path_tricks_do_not_cross_users(hub, alice_server, bob_server, path):
    p = path.format(a=hub.alice, b=hub.bob)
    req = (f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n"
           f"Authorization: token {token_of(hub, hub.alice)}\r\nConnection: close\r\n\r\n").encode()
    st = status_of(raw_request(hub, req))
    assert st in (400, 403, 404), f"{p}: {st}"


def test_cookie_post_to_server_needs_xsrf(hub, alice_server, alice_browser):
    user, tok = hub.alice, token_of(hub, hub.alice)
    alice_browser.get(hub.url + f"/user/{user}/tree")
    before = nbw.requests.get(hub.url + f"/user/{user}/api/kernels", headers={"Authorization": f"token {tok}"},
                              timeout=20).json()
    for headers in ({}, {"Sec-Fetch-Mode": "no-cors", "Origin": "https://evil.example"}):
        r = alice_browser.post(hub.url + f"/user/{user}/api/kernels", json={"name": "python3"},
                               headers=headers, allow_redirects=False)
        assert r.status_code == 403, f"cookie POST without X-XSRFToken ({headers}): {r.status_code}"
    after = nbw.requests.get(hub.url + f"/user/{user}/api/kernels", headers={"Authorization": f"token {tok}"},
                             timeout=20).json()
    assert {k["id"] for k in after} == {k["id"] for k in before}, "a kernel was created by a forged POST"


def test_cross_site_websocket_refused(hub, alice_server, alice_browser):
    user = hub.alice
    alice_browser.get(hub.url + f"/user/{user}/tree")
    kid = create_kernel(hub, user, token=token_of(hub, user))
    cookie = hub.cookie_header(alice_browser, hub.url + f"/user/{user}/api/kernels/{kid}/channels")
    assert "nbwarden-server=" in cookie
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        ws = open_channels(hub, user, kid, cookie=cookie, origin="https://evil.example")
        ws.close()
    assert e.value.status_code in (400, 403)


def test_oversized_header_refused(hub):
    big = "a" * 200_000
    req = (f"GET /hub/login HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nX-Big: {big}\r\n\r\n").encode()
    raw = raw_request(hub, req)
    st = status_of(raw)
    assert st in (431, 400, None), f"a 200 kB header got {st}"
    r = get(hub, "/hub/login")
    assert r.status_code == 200, "the hub did not survive an oversized header"


def test_garbage_request_does_not_kill_hub(hub):
    raw = raw_request(hub, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xff" * 200 + b"\r\n\r\n")
    assert status_of(raw) in (400, None)
    pids = hub.hub_pids()
    r = get(hub, "/hub/login")
    assert r.status_code == 200
    assert hub.hub_pids() == pids

