"""User servers share the hub's origin: a script served by bob's server, running in an admin's
browser, must not be able to use the admin's cookies on /hub/ or on alice's server.

Browsers are simulated by the fetch metadata (Sec-Fetch-*), Referer and Origin headers they send;
clients without fetch metadata (curl, scripts) keep working as before."""

import re
import urllib.parse

import pytest
import websocket

import nbw
from conftest import token_of
from test_40_spawn import create_kernel, open_channels


def fetch_from(hub, page_path, mode="cors", site="same-origin", dest="empty"):
    """Headers of a script's fetch() issued by a page at page_path of our origin."""
    return {"Sec-Fetch-Mode": mode, "Sec-Fetch-Site": site, "Sec-Fetch-Dest": dest,
            "Referer": hub.url + page_path}


def navigate(site="none", dest="document", referer=None):
    h = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": site, "Sec-Fetch-Dest": dest}
    if referer:
        h["Referer"] = referer
    return h


def server_cookies(resp):
    out = []
    for r in list(resp.history) + [resp]:
        for raw in nbw.set_cookie_headers(r):
            name, value, attrs = nbw.parse_set_cookie(raw)
            if name == "nbwarden-server" and value:
                out.append((value, attrs.get("path")))
    return out


@pytest.fixture
def admin_browser(hub):
    sess, r = hub.login(hub.admin)
    assert r.status_code == 302, f"login as admin: {r.status_code}"
    return sess


# ---- a) hub pages cannot be framed or opened into a user server's browsing context group

@pytest.mark.parametrize("path", ["/hub/login", "/hub/home", "/hub/api", "/hub/api/user", "/hub/nosuch",
                                  "/hub/static/style.css", "/"])
def test_hub_responses_isolated(hub, path):
    r = nbw.requests.get(hub.url + path, timeout=20, allow_redirects=False)
    assert r.headers.get("Cross-Origin-Opener-Policy") == "same-origin", (path, r.status_code, dict(r.headers))
    assert r.headers.get("X-Frame-Options", "").upper() == "DENY", path
    assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", ""), path
    # same-origin referrers still reach the hub (spawn.js's EventSource), nothing leaves the origin
    assert r.headers.get("Referrer-Policy") == "same-origin", path


# ---- b) cookie-authenticated requests to /hub/ that are not navigations

def test_hub_cookie_not_usable_by_scripts_of_user_servers(hub, admin_browser):
    bob_page = f"/user/{hub.bob}/tree"
    r = admin_browser.get(hub.url + "/hub/api/user", headers=fetch_from(hub, bob_page), allow_redirects=False)
    assert r.status_code == 403 and r.headers["Content-Type"].startswith("application/json"), r.status_code
    # the hub pages (and their XSRF tokens) are out of reach too
    r = admin_browser.get(hub.url + "/hub/home", headers=fetch_from(hub, bob_page), allow_redirects=False)
    assert r.status_code == 302 and nbw.location_path(r)[1] == "/hub/login", r.status_code
    assert 'name="_xsrf"' not in r.text
    # even with a spoofed /hub/ referrer (fetch's `referrer` option, history.pushState)
    for path in ("/hub/home", "/hub/api/user", f"/hub/api/users/{hub.alice}"):
        r = admin_browser.get(hub.url + path, headers=fetch_from(hub, "/hub/home"), allow_redirects=False)
        assert r.status_code in (302, 403), (path, r.status_code)
    r = admin_browser.get(hub.url + "/hub/login", params={"next": f"/user/{hub.alice}/"},
                          headers=fetch_from(hub, bob_page, mode="no-cors"), allow_redirects=False)
    assert r.status_code == 200 and "open-server" not in r.text and not server_cookies(r)
    # other sites, and same-site sibling origins
    r = admin_browser.get(hub.url + "/hub/api/user",
                          headers=fetch_from(hub, "/hub/home", site="same-site"), allow_redirects=False)
    assert r.status_code == 403
    # a state change with the right XSRF token from a user server's page: refused
    xsrf = hub.xsrf_from(admin_browser)
    h = dict(fetch_from(hub, bob_page), **{"X-XSRFToken": xsrf, "Origin": hub.url})
    r = admin_browser.post(hub.url + f"/hub/api/users/{hub.admin}/server", headers=h, allow_redirects=False)
    assert r.status_code == 403, r.status_code
    hub.wait_audit("access.denied", user=hub.admin)


def test_hub_cookie_still_works_for_hub_pages_and_clients(hub, admin_browser):
    # no fetch metadata: a non-browser client
    r = admin_browser.get(hub.url + "/hub/api/user", allow_redirects=False)
    assert r.status_code == 200 and r.json()["name"] == hub.admin
    # top-level navigations, from anywhere
    for site in ("none", "same-origin", "cross-site"):
        r = admin_browser.get(hub.url + "/hub/home", headers=navigate(site), allow_redirects=False)
        assert r.status_code == 200 and 'name="_xsrf"' in r.text, site
    # spawn.js's EventSource from the spawn-pending page: authenticated (400: nothing is starting)
    r = admin_browser.get(hub.url + f"/hub/api/users/{hub.admin}/server/progress",
                          headers=dict(fetch_from(hub, f"/hub/spawn-pending/{hub.admin}"),
                                       Accept="text/event-stream"), allow_redirects=False, stream=True)
    try:
        assert r.status_code in (200, 400), r.status_code
    finally:
        r.close()
    # a form POST is a navigation: still works with the XSRF token
    xsrf = hub.xsrf_from(admin_browser)
    r = admin_browser.post(hub.url + f"/hub/stop/{hub.admin}", data={"_xsrf": xsrf},
                           headers=navigate("same-origin", referer=hub.url + "/hub/home"), allow_redirects=False)
    assert r.status_code == 302 and nbw.location_path(r)[1] == "/hub/home", r.status_code


# ---- c) a GET never issues another user's server cookie

def test_admin_needs_confirmation_for_other_server(hub, alice_server, admin_browser):
    user = hub.alice
    nxt = f"/user/{user}/api/status"
    # a cross-site page pushing the admin into alice's server with a top-level GET
    r = admin_browser.get(hub.url + "/hub/login", params={"next": nxt}, headers=navigate("cross-site"),
                          allow_redirects=False)
    assert r.status_code == 200, r.status_code
    assert not server_cookies(r), "a GET issued another user's server cookie"
    form = nbw.find_form(r.text, action_contains="/hub/open-server")
    assert form is not None, r.text[:2000]
    assert form["inputs"].get("next") == nxt and form["inputs"].get("_xsrf")
    assert f"Open {user}&#39;s server as administrator" in r.text or \
        f"Open {user}&#x27;s server as administrator" in r.text or f"Open {user}'s server" in r.text
    # the proxy redirect lands there too
    r = admin_browser.get(hub.url + nxt)
    assert r.status_code == 200 and "/hub/open-server" in r.text and not server_cookies(r)
    # the form without (or with a wrong) XSRF token, and a GET: nothing
    for data in ({"next": nxt}, {"next": nxt, "_xsrf": "x" * 43}):
        r = admin_browser.post(hub.url + "/hub/open-server", data=data, allow_redirects=False)
        assert r.status_code == 403 and not server_cookies(r)
    r = admin_browser.get(hub.url + "/hub/open-server", params={"next": nxt}, allow_redirects=False)
    assert r.status_code == 302 and not server_cookies(r)
    assert not [c for c in admin_browser.cookies if c.name == "nbwarden-server"]
    # confirmed: cookie for alice's server only, then the server answers
    r = admin_browser.post(hub.url + "/hub/open-server", data=form["inputs"], allow_redirects=False)
    assert r.status_code == 302 and nbw.location_path(r)[1] == nxt
    assert [p for _, p in server_cookies(r)] == [f"/user/{user}/"]
    # short-lived: a browser-session cookie, not the hub's long max-age
    attrs = [nbw.parse_set_cookie(h)[2] for h in nbw.set_cookie_headers(r) if h.startswith("nbwarden-server=")][0]
    assert "max-age" not in attrs and "expires" not in attrs, attrs
    hub.note_cookies(admin_browser)
    r = admin_browser.get(hub.url + nxt, allow_redirects=False)
    assert r.status_code == 200 and "started" in r.json()


def test_admin_login_form_with_other_server_next(hub, alice_server):
    sess, r = hub.login(hub.admin, next_url=f"/user/{hub.alice}/tree")
    assert r.status_code == 200, r.status_code
    assert "nbwarden-session" in sess.cookies
    assert not server_cookies(r)
    assert nbw.find_form(r.text, action_contains="/hub/open-server") is not None
    # the own server: no confirmation needed
    sess, r = hub.login(hub.admin, next_url=f"/user/{hub.admin}/tree")
    assert r.status_code == 302 and [p for _, p in server_cookies(r)] == [f"/user/{hub.admin}/"]


def test_non_admin_cannot_confirm_other_server(hub, alice_browser):
    xsrf = hub.xsrf_from(alice_browser)
    r = alice_browser.post(hub.url + "/hub/open-server", data={"_xsrf": xsrf, "next": f"/user/{hub.bob}/"},
                           allow_redirects=False)
    assert r.status_code == 403 and not server_cookies(r)
    r = alice_browser.get(hub.url + "/hub/login", params={"next": f"/user/{hub.bob}/"}, allow_redirects=False)
    assert r.status_code == 403 and not server_cookies(r)


# ---- d) /user/NAME/ with a server cookie: only from NAME's own pages

@pytest.fixture
def alice_cookie_browser(hub, alice_server, alice_browser):
    r = alice_browser.get(hub.url + f"/user/{hub.alice}/tree")
    assert r.status_code == 200
    hub.note_cookies(alice_browser)
    return alice_browser


def test_server_cookie_not_usable_from_other_server_pages(hub, alice_cookie_browser):
    s, user = alice_cookie_browser, hub.alice
    url = hub.url + f"/user/{user}/api/status"
    for page in (f"/user/{hub.bob}/tree", f"/user/{user}x/tree", "/hub/home", None):
        h = fetch_from(hub, page or "/")
        if page is None:
            del h["Referer"]
        r = s.get(url, headers=h, allow_redirects=False)
        assert r.status_code == 403, (page, r.status_code)
    r = s.get(url, headers=fetch_from(hub, f"/user/{user}/tree", site="cross-site"), allow_redirects=False)
    assert r.status_code == 403
    # framing alice's pages into another page
    r = s.get(hub.url + f"/user/{user}/tree", allow_redirects=False,
              headers=navigate("same-origin", "iframe", referer=hub.url + f"/user/{hub.bob}/tree"))
    assert r.status_code == 403
    hub.wait_audit("access.denied", user=user)


def test_server_cookie_works_from_own_pages(hub, alice_cookie_browser):
    s, user = alice_cookie_browser, hub.alice
    url = hub.url + f"/user/{user}/api/status"
    assert s.get(url, allow_redirects=False).status_code == 200  # no fetch metadata
    assert s.get(url, headers=fetch_from(hub, f"/user/{user}/lab"), allow_redirects=False).status_code == 200
    assert s.get(url, headers=fetch_from(hub, f"/user/{user}/tree", mode="no-cors", dest="script"),
                 allow_redirects=False).status_code == 200
    for site in ("none", "cross-site"):
        r = s.get(hub.url + f"/user/{user}/tree", headers=navigate(site), allow_redirects=False)
        assert r.status_code == 200, site
    r = s.get(hub.url + f"/user/{user}/tree", allow_redirects=False,
              headers=navigate("same-origin", "iframe", referer=hub.url + f"/user/{user}/lab"))
    assert r.status_code == 200


def test_forged_kernel_start_from_other_server_page_refused(hub, alice_cookie_browser):
    """The attack: bob's script sets Jupyter's _xsrf cookie itself and double-submits it."""
    s, user, tok = alice_cookie_browser, hub.alice, token_of(hub, hub.alice)
    kernels = hub.url + f"/user/{user}/api/kernels"
    before = {k["id"] for k in nbw.requests.get(kernels, headers={"Authorization": f"token {tok}"},
                                                timeout=20).json()}
    for c in [c for c in s.cookies if c.name == "_xsrf"]:
        s.cookies.clear(c.domain, c.path, c.name)
    s.cookies.set("_xsrf", "planted-by-bob", path=f"/user/{user}/")
    h = dict(fetch_from(hub, f"/user/{hub.bob}/tree"), **{"X-XSRFToken": "planted-by-bob", "Origin": hub.url})
    r = s.post(kernels, json={"name": "python3"}, headers=h, allow_redirects=False)
    assert r.status_code == 403, r.status_code
    after = {k["id"] for k in nbw.requests.get(kernels, headers={"Authorization": f"token {tok}"},
                                               timeout=20).json()}
    assert after == before, "a kernel was started from another server's page"
    # the same request from alice's own page passes (Jupyter's own UI)
    h["Referer"] = hub.url + f"/user/{user}/lab"
    r = s.post(kernels, json={"name": "python3"}, headers=h, allow_redirects=False)
    assert r.status_code == 201, (r.status_code, r.text[:200])
    nbw.requests.delete(kernels + "/" + r.json()["id"], headers={"Authorization": f"token {tok}"}, timeout=30)


def test_websocket_needs_own_origin(hub, alice_cookie_browser):
    s, user = alice_cookie_browser, hub.alice
    kid = create_kernel(hub, user, token=token_of(hub, user))
    cookie = hub.cookie_header(s, hub.url + f"/user/{user}/api/kernels/{kid}/channels")
    url = nbw.ws_url(hub.url) + f"/user/{user}/api/kernels/{kid}/channels"
    fm = ["Sec-Fetch-Mode: websocket", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Dest: websocket"]
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(url, header=fm, cookie=cookie, suppress_origin=True, timeout=30).close()
    assert e.value.status_code == 403
    ws = websocket.create_connection(url, header=fm, cookie=cookie, origin=hub.url, timeout=30)
    ws.close()
    ws = open_channels(hub, user, kid, cookie=cookie, origin=hub.url)
    ws.close()
