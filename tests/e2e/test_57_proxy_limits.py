"""The proxy's limits against the real daemon and a real Jupyter kernel: code hidden in
user_expressions and debug_request is audited, a kernel message over the execute tap's
bound is refused (1009) without reaching the kernel and still audited, one client address
cannot take every connection, and a new connection must send its first head quickly."""

import json
import socket
import struct
import time
import uuid

import pytest
import websocket

import nbw
from conftest import token_of
from test_40_spawn import create_kernel, open_channels

TAP_MAX = 8 << 20  # the proxy's default bound; Jupyter (tornado) takes up to 10 MiB


def wait_reply(ws, msg_id, reply_type, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {reply_type} for {msg_id} within {timeout}s")
        ws.settimeout(remaining)
        raw = ws.recv()
        if isinstance(raw, bytes):
            continue
        m = json.loads(raw)
        if m.get("parent_header", {}).get("msg_id") == msg_id and m.get("msg_type") == reply_type:
            return m


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def test_user_expressions_are_audited(hub, alice_server):
    user, tok = hub.alice, token_of(hub, hub.alice)
    kid = create_kernel(hub, user, token=tok)
    ue = {"x": "__import__('os').getuid() + 0"}
    msg_id, msg = nbw.kernel_message("", uuid.uuid4().hex)
    msg["content"]["user_expressions"] = ue
    ws = open_channels(hub, user, kid, token=tok)
    try:
        ws.send(json.dumps(msg))
        reply = wait_reply(ws, msg_id, "execute_reply")
    finally:
        ws.close()
    # the expression did run in the kernel...
    assert reply["content"]["user_expressions"]["x"]["status"] == "ok", reply["content"]
    # ...and the audit record covers it, text and hash
    expected = "\n# nbwarden: user_expressions=" + compact(ue)
    rec = hub.wait_audit("kernel.execute", kernel_id=kid, msg_id=msg_id)[-1]
    assert rec["code"] == expected, rec
    assert rec["code_len"] == len(expected.encode())
    assert rec["code_sha256"] == nbw.sha256_hex(expected)


def test_debug_request_is_audited(hub, alice_server):
    user, tok = hub.alice, token_of(hub, hub.alice)
    kid = create_kernel(hub, user, token=tok)
    msg_id = uuid.uuid4().hex
    content = {"seq": 1, "type": "request", "command": "evaluate",
               "arguments": {"expression": "__import__('os').getpid()", "context": "repl"}}
    msg = {"header": {"msg_id": msg_id, "username": "e2e", "session": uuid.uuid4().hex,
                      "msg_type": "debug_request", "version": "5.3",
                      "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())},
           "parent_header": {}, "metadata": {}, "content": content, "channel": "control", "buffers": []}
    ws = open_channels(hub, user, kid, token=tok)
    try:
        ws.send(json.dumps(msg))
        try:
            wait_reply(ws, msg_id, "debug_reply", timeout=15)
        except (AssertionError, websocket.WebSocketTimeoutException):
            pass  # whether the kernel's debugger answers does not matter here
    finally:
        ws.close()
    rec = hub.wait_audit("kernel.execute", kernel_id=kid, msg_id=msg_id)[-1]
    assert rec["code"] == compact(content), rec
    assert rec["code_sha256"] == nbw.sha256_hex(compact(content))
    assert rec.get("msg_type") in (None, "debug_request", "execute_request"), rec


def recv_close(ws, timeout=30):
    """Read until the close frame; return its status code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
    raise AssertionError("no close frame")


def test_message_over_tap_bound_refused_and_audited(hub, alice_server):
    user, tok = hub.alice, token_of(hub, hub.alice)
    kid = create_kernel(hub, user, token=tok)
    marker = f"/home/jovyan/too-big-{uuid.uuid4().hex[:8]}"
    code = f"open({marker!r}, 'w').write('ran')\n#" + "x" * (TAP_MAX + (1 << 20))
    assert TAP_MAX < len(code) < 10 << 20  # Jupyter alone would run it
    _, msg = nbw.kernel_message(code, uuid.uuid4().hex)
    ws = open_channels(hub, user, kid, token=tok)
    try:
        try:
            ws.send(json.dumps(msg))
        except (BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException):
            pytest.fail("the proxy dropped the connection without a close frame")
        assert recv_close(ws) == 1009
    finally:
        ws.close()
    # recorded: its existence, without code
    recs = hub.wait_audit("kernel.execute", kernel_id=kid)
    assert any(r["code_sha256"] == "0" * 64 and "exceeded" in r.get("reason", "") for r in recs), recs
    # and never executed
    ws = open_channels(hub, user, kid, token=tok)
    try:
        out = nbw.run_cell(ws, f"import os; print(os.path.exists({marker!r}))")
    finally:
        ws.close()
    assert out["stdout"] == "False\n", out


def connect_from(hub, src, timeout=15):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", hub.port))
    return s


def closed_by_server(s, timeout):
    """True if the server closes s (EOF or reset) within timeout, after any answer."""
    s.settimeout(timeout)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_per_address_cap_and_first_head_timeout(hub):
    # a loopback source address of our own, so that the rest of the suite is not affected
    src = "127.0.0.57"
    held = []
    try:
        t0 = time.monotonic()
        for i in range(64):
            s = connect_from(hub, src)
            if i % 2:
                s.sendall(b"GET /hub/api/ HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
            held.append(s)
        # the 65th from that address is closed at once
        extra = connect_from(hub, src)
        extra.sendall(b"GET /hub/api/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed_by_server(extra, 5), "a 65th connection from one address was served"
        extra.close()
        # another address is served
        other = connect_from(hub, "127.0.0.58")
        other.sendall(b"GET /hub/api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        other.settimeout(10)
        assert other.recv(12).startswith(b"HTTP/1.1 200"), "another address was refused"
        other.close()
        # a connection's first head is due 10 s after the accept (not the 30 s of later heads)
        for s in held:
            assert closed_by_server(s, max(0.1, t0 + 14 - time.monotonic())), \
                f"a connection without a complete first head still open after {time.monotonic() - t0:.1f}s"
            s.close()  # ends the server's lingering close at once
        assert time.monotonic() - t0 >= 9
        # the slots came back
        def served():
            try:
                s = connect_from(hub, src, timeout=5)
                with s:
                    s.sendall(b"GET /hub/api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    return s.recv(12).startswith(b"HTTP/1.1 200")
            except OSError:
                return False
        nbw.wait_until(served, 10, interval=0.2, what="a connection from the address served again")
    finally:
        for s in held:
            s.close()
