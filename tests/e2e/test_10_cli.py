"""Command line: version, usage errors (exit 2), check-config messages."""

import os
import re
import subprocess

import pytest

import nbw
from conftest import require_root

MESON_VERSION = re.search(r"version\s*:\s*'([^']+)'", open(os.path.join(nbw.REPO, "meson.build")).read()).group(1)


def run(binary, *args, input=None, timeout=30):
    return subprocess.run([binary, *args], input=input, capture_output=True, text=True, timeout=timeout)


def test_version(nbwarden_binary):
    r = run(nbwarden_binary, "version")
    assert r.returncode == 0, r.stderr
    assert MESON_VERSION in r.stdout, f"`nbwarden version` printed {r.stdout!r}, expected {MESON_VERSION}"


@pytest.mark.parametrize("args", [
    [],
    ["bogus"],
    ["serve", "--bogus"],
    ["serve", "--config"],
    ["check-config"],
    ["check-config", "a.yaml", "b.yaml"],
    ["user"],
    ["user", "add"],
    ["user", "frobnicate", "x"],
    ["token"],
    ["token", "issue"],
    ["token", "issue", "alice", "--expires-in", "soon"],
    ["token", "issue", "alice", "--expires-in"],
    ["--no-such-option"],
], ids=lambda a: " ".join(a) or "(none)")
def test_usage_errors_exit_2(nbwarden_binary, args, tmp_path):
    r = run(nbwarden_binary, *args)
    assert r.returncode == 2, f"exit {r.returncode} for {args}: {r.stdout}{r.stderr}"
    assert "usage" in (r.stderr + r.stdout).lower(), f"no usage message for {args}: {r.stderr!r}"


# ---------------------------------------------------------------------------
# check-config

MINIMAL = """\
hub:
  bind_url: http://127.0.0.1:8000/
  state_dir: {state}
audit:
  file: {audit}
"""

FULL = """\
hub:
  bind_url: http://127.0.0.1:8123/
  state_dir: {state}
  uid: 60999
  gid: 60999
  cookie_secure: true
audit:
  file: {audit}
  code_max_bytes: 4096
  fsync_interval_ms: 100
singleuser:
  runtime: runc
  cmd:
    - /usr/bin/python3
    - -m
    - jupyter_server
  memory:
    limit: 1G
  cpu:
    limit: 0.5
  pids:
    limit: 256
  startTimeout: 60
  hostUidBase: 1000000
debug:
  enabled: false
"""


def check_config(binary, tmp_path, text, name="nbwarden.yaml"):
    p = tmp_path / name
    p.write_text(text)
    r = run(binary, "check-config", str(p))
    return str(p), r


@pytest.mark.parametrize("text", [MINIMAL, FULL], ids=["minimal", "full"])
def test_check_config_ok(nbwarden_binary, tmp_path, text):
    state = tmp_path / "state-not-created"
    path, r = check_config(nbwarden_binary, tmp_path, text.format(state=state, audit=tmp_path / "a" / "audit.jsonl"))
    assert r.returncode == 0, f"check-config rejected a valid file:\n{r.stdout}{r.stderr}"
    assert "configuration OK" in r.stdout + r.stderr
    assert not state.exists(), "check-config must not create the state dir"
    assert not (tmp_path / "a").exists(), "check-config must not create the audit dir"


MSG_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<key>[^:\s]+): (?P<msg>.+)$")


def diagnostics(path, r):
    out = (r.stdout + r.stderr).splitlines()
    diags = []
    for line in out:
        m = MSG_RE.match(line.strip())
        if m and m.group("file") == path:
            diags.append(m)
    return diags


# (name, text, key, acceptable (line, column) positions: the key's or the value's)
BROKEN = [
    ("unknown-key", "hub:\n  bind_url: http://127.0.0.1:8000/\n  bnd_addr: 1.2.3.4\n",
     "hub.bnd_addr", {(3, 3), (3, 13)}),
    ("unknown-section", "hubb:\n  uid: 5\n", "hubb", {(1, 1)}),
    ("unknown-nested", "singleuser:\n  memory:\n    limt: 1G\n", "singleuser.memory.limt", {(3, 5), (3, 11)}),
    ("wrong-type-int", "hub:\n  uid: abc\n", "hub.uid", {(2, 3), (2, 8)}),
    ("wrong-type-bool", "hub:\n  cookie_secure: sometimes\n", "hub.cookie_secure", {(2, 3), (2, 18)}),
    ("wrong-type-list", "singleuser:\n  cmd:\n    a: 1\n", "singleuser.cmd", {(2, 3), (3, 5)}),
    ("wrong-type-section", "hub: 7\n", "hub", {(1, 1), (1, 6)}),
    ("out-of-range-code-max", "audit:\n  code_max_bytes: 99999999\n", "audit.code_max_bytes", {(2, 3), (2, 19)}),
    ("out-of-range-cpu", "singleuser:\n  cpu:\n    limit: 0\n", "singleuser.cpu.limit", {(3, 5), (3, 12)}),
    ("out-of-range-uid-0", "hub:\n  uid: 0\n", "hub.uid", {(2, 3), (2, 8)}),
    ("out-of-range-memory", "singleuser:\n  memory:\n    limit: 10K\n", "singleuser.memory.limit", {(3, 5), (3, 12)}),
    ("bad-size", "singleuser:\n  memory:\n    limit: lots\n", "singleuser.memory.limit", {(3, 5), (3, 12)}),
    ("out-of-range-uid-base", "singleuser:\n  hostUidBase: 100\n", "singleuser.hostUidBase", {(2, 3), (2, 16)}),
    ("out-of-range-pids", "singleuser:\n  pids:\n    limit: 1\n", "singleuser.pids.limit", {(3, 5), (3, 12)}),
    ("bad-bind-url", "hub:\n  bind_url: ftp://example.org/\n", "hub.bind_url", {(2, 3), (2, 13)}),
    ("relative-state-dir", "hub:\n  state_dir: var/lib/nbwarden\n", "hub.state_dir", {(2, 3), (2, 14)}),
    ("dotdot-audit-file", "audit:\n  file: /var/log/../../etc/x\n", "audit.file", {(2, 3), (2, 9)}),
    ("duplicate-key", "hub:\n  uid: 1000\n  uid: 2000\n", "hub.uid", {(3, 3), (3, 8)}),
]


@pytest.mark.parametrize("name,text,key,positions", BROKEN, ids=[b[0] for b in BROKEN])
def test_check_config_errors(nbwarden_binary, tmp_path, name, text, key, positions):
    path, r = check_config(nbwarden_binary, tmp_path, text)
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"exit {r.returncode} for a broken file ({name}):\n{out}"
    assert "configuration OK" not in out
    diags = diagnostics(path, r)
    assert diags, f"no FILE:LINE:COL: KEY: message line in:\n{out}"
    mine = [d for d in diags if d.group("key") == key]
    assert mine, f"no message names key {key!r}:\n{out}"
    d = mine[0]
    pos = (int(d.group("line")), int(d.group("col")))
    assert pos in positions, f"{key} reported at {pos}, expected one of {sorted(positions)}: {d.group(0)}"
    assert len(d.group("msg").strip()) > 5


def test_check_config_collects_every_error(nbwarden_binary, tmp_path):
    text = ("hub:\n"
            "  uid: abc\n"
            "  colour: blue\n"
            "audit:\n"
            "  code_max_bytes: -1\n"
            "singleuser:\n"
            "  cpu:\n"
            "    limit: 5000\n")
    path, r = check_config(nbwarden_binary, tmp_path, text)
    assert r.returncode == 1
    got = {(d.group("key"), int(d.group("line"))) for d in diagnostics(path, r)}
    want = {("hub.uid", 2), ("hub.colour", 3), ("audit.code_max_bytes", 5), ("singleuser.cpu.limit", 8)}
    assert want <= got, f"expected all of {sorted(want)}, got {sorted(got)}:\n{r.stdout}{r.stderr}"


@pytest.mark.parametrize("name,text,lines", [
    ("unclosed-flow", "hub:\n  bind_url: [http://127.0.0.1:8000/\naudit:\n  file: /x\n", range(2, 6)),
    ("unterminated-quote", "hub:\n  state_dir: \"/var/lib/nbwarden\naudit:\n  file: /x\n", range(2, 6)),
    ("bad-indent", "hub:\n  uid: 5\n state_dir: /x\n", range(2, 4)),
    ("tab-indent", "hub:\n\tuid: 5\n", range(1, 3)),
])
def test_check_config_yaml_syntax_error(nbwarden_binary, tmp_path, name, text, lines):
    path, r = check_config(nbwarden_binary, tmp_path, text)
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"exit {r.returncode} for YAML syntax error ({name}):\n{out}"
    m = [re.match(rf"^{re.escape(path)}:(\d+):(\d+): ", l.strip()) for l in out.splitlines()]
    m = [x for x in m if x]
    assert m, f"syntax error without FILE:LINE:COL prefix:\n{out}"
    assert int(m[0].group(1)) in lines, f"syntax error reported at line {m[0].group(1)}, expected in {list(lines)}:\n{out}"


def test_check_config_missing_file(nbwarden_binary, tmp_path):
    p = str(tmp_path / "does-not-exist.yaml")
    r = run(nbwarden_binary, "check-config", p)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stdout}{r.stderr}"
    assert p in r.stdout + r.stderr


def test_check_config_empty_file_is_valid(nbwarden_binary, tmp_path):
    # config.h: every setting has a default, so {} (and an empty file) is valid
    path, r = check_config(nbwarden_binary, tmp_path, "{}\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout + r.stderr


def test_serve_refuses_broken_config(nbwarden_binary, tmp_path):
    require_root()
    text = f"hub:\n  state_dir: {tmp_path}/state\n  bogus_key: 1\naudit:\n  file: {tmp_path}/audit.jsonl\n"
    p = tmp_path / "broken.yaml"
    p.write_text(text)
    r = run(nbwarden_binary, "serve", "--config", str(p), timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"serve exited 0 with a broken config:\n{out}"
    assert re.search(rf"{re.escape(str(p))}:3:3: hub\.bogus_key: ", out), f"serve did not name file:line:col:key:\n{out}"
    assert not (tmp_path / "state").exists(), "serve must refuse before creating the state dir"
