#!/usr/bin/python3
"""Regenerate the binary v1 test vector with Debian's jupyter_server/jupyter_client.

Run with Debian's interpreter: /usr/bin/python3 gen_vectors.py vectors/
Writes the v1.kernel.websocket.jupyter.org message payload (not framed) that
jupyter_server's own serialize_msg_to_ws_v1 produces for an execute_request,
plus the SHA-256 of its code.
"""
import hashlib
import sys

from jupyter_client.session import Session
from jupyter_server.base.zmqhandlers import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

CODE = "import os\nprint('héllo', os.getpid())\n"
MSG_ID = "8c1b9a2e-1f6d-4c55-9d2a-6a3f0e7b1c42"

out = sys.argv[1] if len(sys.argv) > 1 else "."
session = Session(key=b"", session="0e3c4d2a-aaaa-bbbb-cccc-123456789abc", username="alice")
msg = session.msg("execute_request", content={
    "code": CODE, "silent": False, "store_history": True,
    "user_expressions": {}, "allow_stdin": True, "stop_on_error": True,
})
msg["header"]["msg_id"] = MSG_ID
msg["header"]["date"] = "2024-01-01T00:00:00.000000Z"
bin_msg = serialize_msg_to_ws_v1(msg, "shell", session.pack)

# round-trip through the server's own decoder
channel, parts = deserialize_msg_from_ws_v1(bin_msg)
assert channel == "shell" and session.unpack(parts[3])["code"] == CODE

with open(out + "/v1_execute.bin", "wb") as f:
    f.write(bin_msg)
with open(out + "/v1_execute.sha256", "w") as f:
    f.write(hashlib.sha256(CODE.encode()).hexdigest() + "\n")
print(len(bin_msg), hashlib.sha256(CODE.encode()).hexdigest())
