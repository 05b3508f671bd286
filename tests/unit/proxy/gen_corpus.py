#!/usr/bin/python3
"""Regenerate the exectap fuzz seed corpus (tests/fuzz/corpus/exectap/).

Run with Debian's interpreter from the repository root:
  /usr/bin/python3 tests/unit/proxy/gen_corpus.py tests/fuzz/corpus/exectap
Input layout is described in tests/fuzz/fuzz_exectap.c (byte 0 set-up, byte 1
split point, then data).
"""
import json
import os
import struct
import sys

from jupyter_client.session import Session
from jupyter_server.base.zmqhandlers import serialize_msg_to_ws_v1

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
KEY = b"\x11\x22\x33\x44"


def frame(opcode, payload, fin=True, masked=True, rsv=0, len64=False):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126 and not len64:
        h = bytes([b0, m | n])
    elif n <= 0xFFFF and not len64:
        h = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not masked:
        return h + payload
    return h + KEY + bytes(c ^ KEY[i & 3] for i, c in enumerate(payload))


session = Session(key=b"", session="s", username="alice")
msg = session.msg("execute_request", content={"code": "print(1)", "silent": False})
msg["header"]["msg_id"] = "m1"
msg["header"]["date"] = "2024-01-01T00:00:00Z"
v1 = serialize_msg_to_ws_v1(msg, "shell", session.pack)
v1_control = serialize_msg_to_ws_v1(msg, "control", session.pack)
legacy = json.dumps({"channel": "shell", "header": msg["header"], "parent_header": {},
                     "metadata": {}, "content": msg["content"]}).encode()
nbufs = 2
legacy_bin = struct.pack("!iII", nbufs, 12, 12 + len(legacy)) + legacy + b"\x00buffer"

ue = session.msg("execute_request", content={"code": "", "silent": False,
                                           "user_expressions": {"x": "__import__('os').system('id')"}})
ue["header"]["msg_id"] = "m2"
ue["header"]["date"] = "2024-01-01T00:00:00Z"
ue_json = json.dumps({"channel": "shell", "header": ue["header"], "parent_header": {},
                      "metadata": {}, "content": ue["content"]}).encode()
dbg = session.msg("debug_request", content={
    "seq": 1, "type": "request", "command": "setBreakpoints",
    "arguments": {"source": {"path": "/tmp/x.py"},
                  "breakpoints": [{"line": 1, "condition": "__import__('os').system('id')"}]}})
dbg["header"]["msg_id"] = "d1"
dbg["header"]["date"] = "2024-01-01T00:00:00Z"
dbg_v1 = serialize_msg_to_ws_v1(dbg, "control", session.pack)
dbg_json = json.dumps({"channel": "control", "header": dbg["header"], "parent_header": {},
                       "metadata": {}, "content": dbg["content"]}).encode()

seeds = {
    "user_expressions": b"\x00\x21" + frame(1, ue_json),
    "debug_v1_control": b"\x01\x13" + frame(2, dbg_v1),
    "debug_json_payload": b"\x04\x50" + dbg_json,
    "oversized_then_exec": b"\x10\x02" + frame(1, b"x" * 100) + frame(1, legacy),
    "budget_refused": b"\x20\x03" + frame(1, b"{}") + frame(2, b"\x00" * 400) + frame(1, legacy),
    "json_exec": b"\x00\x10" + frame(1, legacy),
    "json_fragmented_ping": b"\x00\x40" + frame(1, legacy[:30], fin=False) + frame(9, b"p")
    + frame(0, legacy[30:70], fin=False) + frame(10, b"") + frame(0, legacy[70:]),
    "v1_exec": b"\x01\x22" + frame(2, v1),
    "v1_control_unknown": b"\x00\x05" + frame(2, v1_control),
    "v1_payload": b"\x0c\x64" + v1,
    "json_payload": b"\x04\x80" + legacy,
    "legacy_bin_payload": b"\x0e\x30" + legacy_bin,
    "legacy_bin_unknown": b"\x08\x00" + frame(2, legacy_bin),
    "oversized": b"\x10\x05" + frame(1, legacy) + frame(1, b'{"header":{"msg_type":"execute_request"}}'),
    "len64": b"\x00\x07" + frame(1, legacy, len64=True),
    "close_then_exec": b"\x00\x03" + frame(8, b"\x03\xe8") + frame(1, legacy),
    "unmasked": b"\x00\x02" + frame(1, legacy, masked=False),
    "rsv1": b"\x00\x02" + frame(1, legacy, rsv=0x40),
    "nan_payload": b"\x04\x10" + b'{"header":{"msg_type":"execute_request"},"content":{"code":"1","x":NaN}}',
    "escape_payload": b"\x04\x10" + b'{"header":{"msg_type":"execute\\u005frequest"},"content":{"code":"a\\u0000b"}}',
    "garbage": b"\x00\x99" + bytes(range(256)),
    "garbage_text_payload": b"\x04\x20" + b"{not json at all",
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(len(seeds), "seeds")
