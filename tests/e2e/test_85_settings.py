"""Settings that change what the daemon does (beyond the shared daemon's defaults)."""

import nbw


def test_cookie_secure_setting(daemon_factory):
    d = daemon_factory("cookie-secure", {"hub": {"cookie_secure": True}})
    d.write_config()
    d.start()
    name = f"hana-{nbw.run_tag()}"
    d.add_user(name)
    # plain http here, as behind a TLS-terminating front: let the client send Secure cookies back
    sess = nbw.Session()
    page = sess.get(d.url + "/hub/login")
    xsrf_cookies = [nbw.parse_set_cookie(h) for h in nbw.set_cookie_headers(page)]
    assert all(a.get("secure") is True for _, _, a in xsrf_cookies), f"login page cookies: {xsrf_cookies}"
    for c in sess.cookies:
        c.secure = False
    form = nbw.find_form(page.text, field="password")
    data = dict(form["inputs"], username=name, password=d.users[name]["password"])
    r = sess.post(d.url + "/hub/login", data=data, allow_redirects=False)
    assert r.status_code == 302, r.status_code
    cookies = {c[0]: c for c in (nbw.parse_set_cookie(h) for h in nbw.set_cookie_headers(r))}
    assert "nbwarden-session" in cookies, nbw.set_cookie_headers(r)
    _, value, attrs = cookies["nbwarden-session"]
    d.add_secret("cookie nbwarden-session (secure)", value)
    assert attrs.get("secure") is True, f"hub.cookie_secure: true but no Secure attribute: {attrs}"
    assert attrs.get("httponly") is True and str(attrs.get("samesite", "")).lower() == "lax"


def test_minimal_config_defaults(daemon_factory):
    """Only bind_url, state_dir and audit.file: the daemon starts with secure defaults (hub uid 60999)."""
    d = daemon_factory("minimal")
    d.write_config(nbw.to_yaml({"hub": {"bind_url": d.url + "/", "state_dir": d.state_dir},
                                "audit": {"file": d.audit_file}}) + "\n")
    d.start()
    hubs = d.hub_pids()
    assert len(hubs) == 1
    st = nbw.proc_status(hubs[0])
    assert st["Uid"].split()[0] == str(nbw.HUB_UID_DEFAULT) and st["NoNewPrivs"] == "1"
    r = nbw.requests.get(d.url + "/hub/login", timeout=10)
    assert r.status_code == 200
