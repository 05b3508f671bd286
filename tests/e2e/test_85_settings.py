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


# Jupyter with WebSocket compression switched on (it is off by default, which would make a
# test of the proxy's stripping vacuous). nbwarden appends its own --ServerApp.* arguments.
COMPRESSING_JUPYTER = [
    "/usr/bin/python3", "-c",
    "import sys\n"
    "from jupyter_server.base import zmqhandlers\n"
    "zmqhandlers.AuthenticatedZMQStreamHandler.get_compression_options = lambda self: {}\n"
    "from jupyter_server.serverapp import main\n"
    "sys.exit(main(argv=sys.argv[1:]))\n",
]


def _handshake(path, extra_headers, unix_socket=None, port=None):
    import base64
    import socket
    key = base64.b64encode(nbw._secrets.token_bytes(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: {'localhost' if unix_socket else f'127.0.0.1:{port}'}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
           + "".join(f"{k}: {v}\r\n" for k, v in extra_headers.items()) + "\r\n").encode()
    if unix_socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(unix_socket)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
    with s:
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    status = int(head.split(" ", 2)[1]) if head.startswith("HTTP/1.") else None
    return status, head.lower()


def test_websocket_compression_stripped_and_exec_still_audited(daemon_factory):
    from test_40_spawn import create_kernel, open_channels, socket_path
    d = daemon_factory("ws-deflate", {"singleuser": {"cmd": COMPRESSING_JUPYTER}})
    d.write_config()
    d.start()
    user = f"ivan-{nbw.run_tag()}"
    d.user_names.append(user)
    d.add_user(user)
    tok = d.issue_token(user)
    d.ensure_server(user, tok)
    kid = create_kernel(d, user, token=tok)
    path = f"/user/{user}/api/kernels/{kid}/channels"
    server_token = d.jupyter_token(user)
    assert server_token, "cannot read the server's token for the control handshake"
    # control: talking to Jupyter directly, compression is negotiated
    st, head = _handshake(path, {"Authorization": f"token {server_token}"}, unix_socket=socket_path(d, user))
    assert st == 101 and "sec-websocket-extensions: permessage-deflate" in head, \
        f"control failed, Jupyter did not offer compression:\n{head}"
    # through the proxy: the offer is dropped, so no compression
    st, head = _handshake(path, {"Authorization": f"token {tok}", "Origin": d.url}, port=d.port)
    assert st == 101, head
    assert "sec-websocket-extensions" not in head, f"compression negotiated through the proxy:\n{head}"
    # a client that offers compression still gets its cells executed and audited
    import websocket
    ws = websocket.create_connection(nbw.ws_url(d.url) + path, header=[
        f"Authorization: token {tok}", "Sec-WebSocket-Extensions: permessage-deflate"], timeout=60)
    try:
        code = f"print('deflate-{nbw._secrets.token_hex(3)}')"
        out = nbw.run_cell(ws, code)
    finally:
        ws.close()
    assert out["stdout"].startswith("deflate-")
    d.wait_audit("kernel.execute", msg_id=out["msg_id"], code=code)
