"""Helpers for the nbwarden end-to-end tests.

Everything here talks to the real daemon (build/nbwarden), real runc and a
real Jupyter server. Every wait has a deadline; nothing sleeps longer than
the poll interval it needs.
"""

import hashlib
import html.parser
import json
import os
import re
import secrets as _secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import requests
import websocket

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNC_ROOT = "/run/nbwarden/runc"
CGROUP_ROOT = "/sys/fs/cgroup"
UID_RANGE = 65536
# A daemon's sandbox uids live in [host_uid_base, host_uid_base + MAX_SLOTS*65536).
MAX_SLOTS = 16
HUB_UID_DEFAULT = 60999


def nbwarden_bin():
    return os.environ.get("NBWARDEN_BIN") or os.path.join(REPO, "build", "nbwarden")


def run_tag():
    """4 random lower-case hex chars, to keep our names apart from anybody else's."""
    return _secrets.token_hex(2)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# YAML (written by hand: the tests must not depend on PyYAML)

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(d, indent=0):
    out = []
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{pad}{k}:")
            out.append(to_yaml(v, indent + 1))
        elif isinstance(v, (list, tuple)) and any(isinstance(i, (dict, list, tuple)) for i in v):
            out.append(f"{pad}{k}: {json.dumps(v)}")  # JSON is YAML flow: e.g. singleuser.profileList
        elif isinstance(v, (list, tuple)):
            out.append(f"{pad}{k}:")
            for item in v:
                out.append(f"{pad}  - {_yaml_scalar(item)}")
        else:
            out.append(f"{pad}{k}: {_yaml_scalar(v)}")
    return "\n".join(x for x in out if x != "")


def deep_merge(a, b):
    r = dict(a)
    for k, v in (b or {}).items():
        if isinstance(v, dict) and isinstance(r.get(k), dict):
            r[k] = deep_merge(r[k], v)
        elif v is None:
            r.pop(k, None)
        else:
            r[k] = v
    return r


# --------------------------------------------------------------------------
# /proc helpers

def proc_status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            txt = f.read()
    except OSError:
        return None
    d = {}
    for line in txt.splitlines():
        k, _, v = line.partition(":")
        d[k.strip()] = v.strip()
    return d


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return int(s.rsplit(")", 1)[1].split()[19])


def proc_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def children(pid):
    out = []
    for p in all_pids():
        st = proc_status(p)
        if st and st.get("PPid") == str(pid):
            out.append(p)
    return out


def descendants(pid):
    result, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children(p):
            result.append(c)
            todo.append(c)
    return result


def pid_alive(pid, starttime=None):
    st = proc_status(pid)
    if st is None or st.get("State", "").startswith("Z"):
        return False
    if starttime is not None and proc_starttime(pid) != starttime:
        return False
    return True


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; return it. Raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def mountinfo_points():
    pts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            pts.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mp))
    return pts


def runc_list():
    """Containers in nbwarden's runc root: list of dicts (id, pid, status, bundle)."""
    if not os.path.isdir(RUNC_ROOT):
        return []
    r = subprocess.run(["runc", "--root", RUNC_ROOT, "list", "--format", "json"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"runc list failed: {r.stderr.strip()}")
    return json.loads(r.stdout or "null") or []


def runc_state(container_id):
    r = subprocess.run(["runc", "--root", RUNC_ROOT, "state", container_id],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def cgroup_dirs(max_depth=5):
    """Every cgroup directory under every v1 controller and the unified hierarchy."""
    out = []
    if not os.path.isdir(CGROUP_ROOT):
        return out
    for ctrl in sorted(os.listdir(CGROUP_ROOT)):
        base = os.path.join(CGROUP_ROOT, ctrl)
        if not os.path.isdir(base) or os.path.islink(base):
            continue
        for root, dirs, _files in os.walk(base):
            depth = root[len(base):].count("/")
            if depth >= max_depth:
                dirs[:] = []
            for d in dirs:
                out.append(os.path.join(root, d))
    return out


def other_nbwarden_daemons(own_pids):
    """pids of `nbwarden serve` / nbwarden-hub processes that are not ours (someone else's daemon)."""
    out = []
    for p in all_pids():
        if p in own_pids:
            continue
        cl = proc_cmdline(p)
        if not cl:
            continue
        exe = os.path.basename(cl[0])
        if (exe == "nbwarden" and "serve" in cl[1:2]) or exe == "nbwarden-hub":
            out.append(p)
    return out


# --------------------------------------------------------------------------
# HTML forms

class _FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self._cur = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._cur = {"action": a.get("action"), "method": (a.get("method") or "get").lower(), "inputs": {}}
            self.forms.append(self._cur)
        elif tag in ("input", "button") and self._cur is not None:
            name = a.get("name")
            if name:
                self._cur["inputs"][name] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._cur = None


def parse_forms(text):
    p = _FormParser()
    p.feed(text)
    return p.forms


def find_form(text, action_contains=None, field=None):
    for f in parse_forms(text):
        if action_contains is not None and action_contains not in (f["action"] or ""):
            continue
        if field is not None and field not in f["inputs"]:
            continue
        return f
    return None


# --------------------------------------------------------------------------
# HTTP

class Session(requests.Session):
    """requests.Session with a default timeout on every request."""

    def __init__(self, timeout=20):
        super().__init__()
        self._timeout = timeout

    def request(self, method, url, **kw):
        kw.setdefault("timeout", self._timeout)
        return super().request(method, url, **kw)


def set_cookie_headers(resp):
    """Raw Set-Cookie header values of one response (not merged)."""
    try:
        return list(resp.raw.headers.getlist("Set-Cookie"))
    except AttributeError:
        v = resp.headers.get("Set-Cookie")
        return [v] if v else []


def parse_set_cookie(value):
    """'name=val; Path=/; HttpOnly' → (name, val, {attr_lower: value_or_True})."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name.strip(), val.strip(), attrs


def location_path(resp):
    """Location of a redirect as (netloc, path, query) relative to the request URL."""
    loc = resp.headers.get("Location")
    assert loc is not None, f"{resp.status_code} without Location header"
    u = urllib.parse.urlsplit(urllib.parse.urljoin(resp.url, loc))
    return u.netloc, u.path, u.query


# --------------------------------------------------------------------------
# Jupyter kernel over the proxy's WebSocket

def kernel_message(code, session_id, msg_id=None):
    msg_id = msg_id or uuid.uuid4().hex
    return msg_id, {
        "header": {
            "msg_id": msg_id,
            "username": "e2e",
            "session": session_id,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


def run_cell(ws, code, timeout=60):
    """Execute code on an open kernel channel WebSocket; return dict(stdout, stderr, result, error, msg_id, reply)."""
    session_id = uuid.uuid4().hex
    msg_id, msg = kernel_message(code, session_id)
    ws.send(json.dumps(msg))
    out = {"stdout": "", "stderr": "", "result": None, "error": None, "msg_id": msg_id, "reply": None}
    idle = False
    deadline = time.monotonic() + timeout
    while not (idle and out["reply"] is not None):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no complete kernel reply within {timeout}s; got so far: {out}")
        ws.settimeout(remaining)
        raw = ws.recv()
        if isinstance(raw, bytes):
            continue  # binary protocol frames are not expected on the legacy text protocol
        m = json.loads(raw)
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        t = m.get("msg_type") or m.get("header", {}).get("msg_type")
        c = m.get("content", {})
        if t == "stream":
            out[c.get("name", "stdout")] = out.get(c.get("name", "stdout"), "") + c.get("text", "")
        elif t == "execute_result":
            out["result"] = c.get("data", {}).get("text/plain")
        elif t == "error":
            out["error"] = f"{c.get('ename')}: {c.get('evalue')}"
        elif t == "status" and c.get("execution_state") == "idle":
            idle = True
        elif t == "execute_reply":
            out["reply"] = c
    return out


def create_kernel(hub, user, sess=None, token=None):
    url = hub.url + f"/user/{user}/api/kernels"
    if sess is not None:
        xsrf = None
        for c in sess.cookies:
            if c.name == "_xsrf" and c.path.startswith(f"/user/{user}"):
                xsrf = c.value
        xsrf = xsrf or sess.cookies.get("_xsrf")
        r = sess.post(url, json={"name": "python3"}, headers={"X-XSRFToken": xsrf or ""}, allow_redirects=False)
    else:
        r = requests.post(url, json={"name": "python3"}, headers={"Authorization": f"token {token}"},
                          timeout=60, allow_redirects=False)
    assert r.status_code == 201, f"POST /user/{user}/api/kernels: {r.status_code} {r.text[:300]}"
    return r.json()["id"]


def open_channels(hub, user, kid, token=None, cookie=None, origin=None):
    url = ws_url(hub.url) + f"/user/{user}/api/kernels/{kid}/channels"
    header = [f"Authorization: token {token}"] if token else []
    kw = {"header": header, "timeout": 60}
    if cookie:
        kw["cookie"] = cookie
    if origin:
        kw["origin"] = origin
    return websocket.create_connection(url, **kw)


def run_in_new_kernel(hub, user, code, token=None, timeout=60):
    """run_cell(code) in a new kernel of user's server, the channel closed after; the run_cell dict."""
    ws = open_channels(hub, user, create_kernel(hub, user, token=token), token=token)
    try:
        return run_cell(ws, code, timeout=timeout)
    finally:
        ws.close()


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


# --------------------------------------------------------------------------
# The daemon

_RUNNING = []  # daemons currently running (they share /run/nbwarden/runc; never run two at once)


class Daemon:
    """One `nbwarden serve` with its own temporary state dir, audit file, port and uid range."""

    def __init__(self, label, settings=None, host_uid_base=None):
        self.bin = nbwarden_bin()
        self.label = label
        self.base = tempfile.mkdtemp(prefix=f"nbw-e2e-{label}-", dir="/tmp")
        os.chmod(self.base, 0o755)  # the hub (uid 60999) must be able to reach state_dir
        self.state_dir = os.path.join(self.base, "state")
        self.audit_dir = os.path.join(self.base, "audit")
        os.makedirs(self.audit_dir, mode=0o755)
        self.audit_file = os.path.join(self.audit_dir, "audit.jsonl")
        self.config_path = os.path.join(self.base, "nbwarden.yaml")
        self.stdout_path = os.path.join(self.base, "serve.stdout")
        self.stderr_path = os.path.join(self.base, "serve.stderr")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if host_uid_base is None:
            # unique per daemon, so that "a process in our uid range" means "ours"
            host_uid_base = (3052 + _secrets.randbelow(2000) * MAX_SLOTS) * UID_RANGE
        self.host_uid_base = host_uid_base
        defaults = {
            "hub": {"bind_url": self.url + "/", "state_dir": self.state_dir},
            "audit": {"file": self.audit_file, "fsync_interval_ms": 20},
            "singleuser": {"hostUidBase": host_uid_base, "startTimeout": 60},
        }
        self.settings = deep_merge(defaults, settings or {})
        self.proc = None
        self.monitor_pid = None
        self.monitor_start = None
        self.seen = {}          # pid -> starttime of every process of ours we looked at
        self.secrets = []       # (label, value) that must never appear in logs
        self.users = {}         # name -> {"password", "token", "admin"}
        self.user_names = []    # every name we created (for leftover checks)
        self._stderr_fh = None
        self._stdout_fh = None
        self.foreign_before = None  # nbwarden-named cgroups/netns present before we first started

    # ---- config / CLI ----
    def write_config(self, text=None):
        with open(self.config_path, "w") as f:
            f.write(text if text is not None else to_yaml(self.settings) + "\n")
        os.chmod(self.config_path, 0o644)

    def cli(self, *args, input=None, timeout=60, config=True):
        argv = [self.bin, *args]
        if config:
            argv += ["--config", self.config_path]
        return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)

    def add_secret(self, label, value):
        if value and len(value) >= 6 and (label, value) not in self.secrets:
            self.secrets.append((label, value))

    def add_user(self, name, password=None, admin=False):
        password = password or ("pw-" + _secrets.token_urlsafe(18))
        self.add_secret(f"password of {name}", password)
        args = ["user", "add", name] + (["--admin"] if admin else [])
        r = self.cli(*args, input=password + "\n")
        assert r.returncode == 0, f"nbwarden user add {name} failed ({r.returncode}): {r.stdout}{r.stderr}"
        self.users[name] = {"password": password, "admin": admin, "token": None}
        if name not in self.user_names:
            self.user_names.append(name)
        return password

    def issue_token(self, name, expires_in=None):
        args = ["token", "issue", name]
        if expires_in is not None:
            args += ["--expires-in", str(expires_in)]
        r = self.cli(*args)
        assert r.returncode == 0, f"nbwarden token issue {name} failed ({r.returncode}): {r.stdout}{r.stderr}"
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, f"token issue must print exactly one line, got {r.stdout!r}"
        tok = lines[0].strip()
        self.add_secret(f"token of {name}", tok)
        return tok

    # ---- lifecycle ----
    def start(self, wait=True, timeout=30):
        for other in list(_RUNNING):
            if other is not self:
                other.stop()
        if not os.path.exists(self.config_path):
            self.write_config()
        if self.foreign_before is None:
            # somebody else's leftovers (another test suite's container) are not ours to report
            self.foreign_before = {d for d in cgroup_dirs() if "nbwarden" in d}
            if os.path.isdir("/run/netns"):
                self.foreign_before |= {"/run/netns/" + n for n in os.listdir("/run/netns") if "nbwarden" in n}
        self._stdout_fh = open(self.stdout_path, "ab")
        self._stderr_fh = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([self.bin, "serve", "--config", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self._stdout_fh, stderr=self._stderr_fh)
        self.monitor_pid = self.proc.pid
        self.monitor_start = proc_starttime(self.proc.pid)
        self.seen[self.proc.pid] = self.monitor_start
        _RUNNING.append(self)
        if wait:
            self.wait_listening(timeout)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"nbwarden serve exited with {self.proc.returncode} before listening:\n"
                                     + self.log_tail())
            try:
                r = requests.get(self.url + "/hub/api/", timeout=2)
                if r.status_code < 500:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"nbwarden serve not answering on {self.url} after {timeout}s:\n"
                                     + self.log_tail())
            time.sleep(0.05)
        for p in self.hub_pids():
            self.seen[p] = proc_starttime(p)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal the monitor and wait; return its exit code (None if it was not running)."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.proc is None:
            return None
        self.remember_processes()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"nbwarden serve did not exit within {timeout}s of signal {sig}")
            finally:
                self._close_logs()
        self._close_logs()
        self.audit_records(complete=True)  # every record the daemon wrote is whole
        return self.proc.returncode

    def _close_logs(self):
        for fh in (self._stdout_fh, self._stderr_fh):
            if fh and not fh.closed:
                fh.close()

    def kill_everything(self):
        """Last resort after a failed test: kill what we know is ours (by pid, never by name)."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for pid, st in list(self.seen.items()):
            if pid_alive(pid, st):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for c in runc_list():
            if self.owns_container(c):
                subprocess.run(["runc", "--root", RUNC_ROOT, "delete", "--force", c["id"]],
                               capture_output=True, timeout=30)
        self._close_logs()

    # ---- logs ----
    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        lines = (self.stdout_text() + self.stderr_text()).splitlines()
        return "\n".join(lines[-n:])

    def server_log(self, user):
        try:
            with open(os.path.join(self.state_dir, "logs", f"{user}.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError as e:
            return f"(no server log: {e})"

    def audit_records(self, complete=False):
        """The audit log's records.  A reader racing the daemon's write(2) can see the
        last line half written (reads of a regular file are not serialised against a
        concurrent write), so an unterminated tail is left for the next look -- unless
        `complete` is set (the daemon has stopped), when it is a defect."""
        try:
            with open(self.audit_file, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        lines = text.split("\n")
        tail = lines.pop()
        if tail and complete:
            raise AssertionError(f"audit log does not end with a newline: {tail[:200]!r}")
        recs = []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                recs.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"audit line {i} is not JSON: {line[:200]!r}")
        return recs

    def audit_find(self, event, **match):
        out = []
        for r in self.audit_records():
            if r.get("event") != event:
                continue
            if all(r.get(k) == v for k, v in match.items()):
                out.append(r)
        return out

    def wait_audit(self, event, timeout=10, **match):
        return wait_until(lambda: self.audit_find(event, **match), timeout,
                          what=f"audit event {event} {match}")

    def sanitizer_reports(self):
        """ASan/UBSan/LSan findings in the daemon's output (when run against a sanitizer build)."""
        out = self.stderr_text() + self.stdout_text()
        found = []
        for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehavior"):
            i = out.find(pat)
            if i >= 0:
                found.append(f"sanitizer report in the daemon output: {out[max(0, i - 200):i + 600]!r}")
        return found

    def secret_leaks(self):
        """Every (secret label, file) where a secret value appears in the audit log or the daemon's output."""
        texts = {"audit log": "", "daemon stderr": self.stderr_text(), "daemon stdout": self.stdout_text()}
        try:
            with open(self.audit_file, errors="replace") as f:
                texts["audit log"] = f.read()
        except FileNotFoundError:
            pass
        logs = os.path.join(self.state_dir, "logs")
        if os.path.isdir(logs):
            for name in sorted(os.listdir(logs)):
                try:
                    with open(os.path.join(logs, name), errors="replace") as f:
                        texts[f"server log {name}"] = f.read()
                except OSError:
                    pass
        leaks = []
        for label, value in self.secrets:
            for where, text in texts.items():
                if value in text:
                    leaks.append(f"{label} appears in the {where}")
        return leaks

    # ---- processes ----
    def hub_pids(self):
        if not self.running():
            return []
        out = []
        for c in children(self.monitor_pid):
            cl = proc_cmdline(c) or []
            if cl and os.path.basename(cl[0]).startswith("nbwarden-hub"):
                out.append(c)
        return out

    @staticmethod
    def _id_is_users(cid, user):
        # "nbwarden-USER" or the instance-scoped "nbwarden-INSTANCE-USER" (our user names carry a random tag)
        return cid == "nbwarden-" + user or (cid.startswith("nbwarden-") and cid.endswith("-" + user))

    def user_containers(self, user):
        """runc containers of user's server: the bundle is state_dir/bundles/USER (sandbox.h), or the id names the user."""
        bundle = os.path.join(self.state_dir, "bundles", user)
        return [c for c in runc_list()
                if (c.get("bundle") or "").rstrip("/") == bundle or self._id_is_users(c.get("id") or "", user)]

    def container_id(self, user):
        cs = self.user_containers(user)
        return cs[0]["id"] if cs else None

    def owns_container(self, c):
        bundle = c.get("bundle") or ""
        return bundle.startswith(self.base + "/") or any(self._id_is_users(c.get("id") or "", u)
                                                         for u in self.user_names)

    def server_pids(self, user):
        """(init pid, all pids) of the user's container, from runc state; (None, []) if not running."""
        cid = self.container_id(user)
        st = runc_state(cid) if cid else None
        if not st or not st.get("pid") or st.get("status") != "running":
            return None, []
        init = st["pid"]
        pids = [init] + descendants(init)
        for p in pids:
            self.seen[p] = proc_starttime(p)
        return init, pids

    def jupyter_token(self, user):
        init, pids = self.server_pids(user)
        for p in pids:
            env = proc_environ(p)
            # the secret the proxy injects: NBWARDEN_SERVER_TOKEN (checked by nbwarden's login
            # handler, sandbox.h) or, in the first design, Jupyter's own JUPYTER_TOKEN
            tok = env.get("NBWARDEN_SERVER_TOKEN") or env.get("JUPYTER_TOKEN")
            if tok:
                self.add_secret(f"Jupyter token of {user}", tok)
                return tok
        return None

    def remember_processes(self):
        if self.running():
            self.seen[self.monitor_pid] = self.monitor_start
            for p in descendants(self.monitor_pid):
                self.seen[p] = proc_starttime(p)
        for u in self.user_names:
            self.server_pids(u)
        for p in self.uid_range_pids():
            self.seen[p] = proc_starttime(p)

    def uid_range_pids(self):
        lo, hi = self.host_uid_base, self.host_uid_base + MAX_SLOTS * UID_RANGE
        out = []
        for p in all_pids():
            st = proc_status(p)
            if not st or "Uid" not in st:
                continue
            uids = [int(x) for x in st["Uid"].split()]
            if any(lo <= u < hi for u in uids):
                out.append(p)
        return out

    def leftovers(self):
        """Everything of this daemon still on the machine: processes, containers, mounts, cgroups, netns."""
        problems = []
        own = set(self.seen)
        for pid, st in self.seen.items():
            if pid_alive(pid, st):
                problems.append(f"process {pid} still alive: {' '.join(proc_cmdline(pid) or [])!r}")
        names = [self.base] + list(self.user_names)
        me = os.getpid()
        for p in all_pids():
            if p == me or p in own:
                continue
            cl = proc_cmdline(p)
            if cl and any(n in " ".join(cl) for n in names) and pid_alive(p):
                problems.append(f"process {p} mentions our state: {' '.join(cl)!r}")
        for p in self.uid_range_pids():
            if p not in own and pid_alive(p):
                problems.append(f"process {p} runs in our sandbox uid range: {' '.join(proc_cmdline(p) or [])!r}")
        try:
            for c in runc_list():
                if self.owns_container(c):
                    problems.append(f"container {c.get('id')} ({c.get('status')}) still in {RUNC_ROOT}")
        except AssertionError as e:
            problems.append(str(e))
        for mp in mountinfo_points():
            if mp == self.base or mp.startswith(self.base + "/"):
                problems.append(f"mount left at {mp}")
        others = other_nbwarden_daemons(own)
        before = self.foreign_before or set()
        tag_names = list(self.user_names)
        for d in cgroup_dirs():
            leaf = os.path.basename(d)
            if any(n in leaf for n in tag_names):
                problems.append(f"cgroup left: {d}")
            elif leaf == "nbwarden" and d not in before and not others:
                # the shared parent of every instance's cgroups: ours to report only when it is
                # empty (a foreign child, e.g. another test suite's sandbox, makes it not ours)
                try:
                    kids = [k for k in os.listdir(d) if os.path.isdir(os.path.join(d, k))]
                except OSError:
                    kids = []
                if not kids:
                    problems.append(f"empty cgroup parent left (created while this daemon ran): {d}")
        if os.path.isdir("/run/netns"):
            for ns in os.listdir("/run/netns"):
                p = "/run/netns/" + ns
                if any(n in ns for n in tag_names) or ("nbwarden" in ns and p not in before and not others):
                    problems.append(f"network namespace left: {p}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                problems.append(f"something still accepts connections on port {self.port}")
        except OSError:
            pass
        return problems

    # ---- HTTP ----
    def api(self, method, path, token=None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"token {token}"
        kw.setdefault("timeout", 20)
        kw.setdefault("allow_redirects", False)
        return requests.request(method, self.url + "/hub/api" + path, headers=headers, **kw)

    def browser(self):
        return Session()

    def note_cookies(self, sess):
        for c in sess.cookies:
            if c.name.startswith("nbwarden") and c.value:
                self.add_secret(f"cookie {c.name} ({c.path})", c.value)

    def login(self, user, password=None, next_url=None, sess=None):
        """Log in through the form like a browser. Returns (session, POST response without redirects)."""
        sess = sess or self.browser()
        password = password if password is not None else self.users[user]["password"]
        params = {"next": next_url} if next_url is not None else None
        page = sess.get(self.url + "/hub/login", params=params)
        assert page.status_code == 200, f"GET /hub/login: {page.status_code} {page.text[:300]}"
        form = find_form(page.text, field="password")
        assert form is not None, f"no login form with a password field on /hub/login:\n{page.text[:1000]}"
        assert "_xsrf" in form["inputs"], f"login form has no _xsrf field: {form}"
        data = dict(form["inputs"])
        data["username"] = user
        data["password"] = password
        action = urllib.parse.urljoin(page.url, form["action"] or page.url)
        r = sess.post(action, data=data, allow_redirects=False)
        self.note_cookies(sess)
        return sess, r

    def xsrf_from(self, sess, path="/hub/home"):
        """The _xsrf value a page of ours embeds (for forms and X-XSRFToken)."""
        r = sess.get(self.url + path, allow_redirects=False)
        assert r.status_code == 200, f"GET {path}: {r.status_code}"
        m = re.search(r'name="_xsrf"[^>]*value="([^"]*)"', r.text) or \
            re.search(r'value="([^"]*)"[^>]*name="_xsrf"', r.text)
        if m:
            return html_unescape(m.group(1))
        return sess.cookies.get("_xsrf")

    def user_model(self, user, token):
        r = self.api("GET", f"/users/{user}", token=token)
        assert r.status_code == 200, f"GET /users/{user}: {r.status_code} {r.text[:300]}"
        return r.json()

    def server_model(self, user, token):
        return (self.user_model(user, token).get("servers") or {}).get("")

    def progress(self, user, token=None, sess=None, timeout=90, on_event=None):
        """Read the progress SSE stream until ready/failed; return the list of events."""
        url = self.url + f"/hub/api/users/{user}/server/progress"
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = f"token {token}"
        getter = sess.get if sess is not None else requests.get
        events = []
        deadline = time.monotonic() + timeout
        with getter(url, headers=headers, stream=True, timeout=(5, timeout)) as r:
            assert r.status_code == 200, f"progress stream: {r.status_code} {r.text[:300]}"
            ctype = r.headers.get("Content-Type", "")
            assert ctype.startswith("text/event-stream"), f"progress Content-Type is {ctype!r}"
            buf = b""
            for chunk in r.iter_content(chunk_size=1):
                if time.monotonic() > deadline:
                    raise AssertionError(f"progress stream not finished after {timeout}s: {events}")
                buf += chunk
                if not buf.endswith(b"\n"):
                    continue
                line = buf.decode(errors="replace").rstrip("\r\n")
                buf = b""
                if not line.startswith("data:"):
                    continue
                ev = json.loads(line[5:].strip())
                ev["_t"] = time.monotonic()
                events.append(ev)
                if on_event:
                    on_event(ev)
                if ev.get("ready") or ev.get("failed"):
                    break
        return events

    def wait_ready(self, user, token, timeout=90):
        def ready():
            s = self.server_model(user, token)
            return s if (s and s.get("ready")) else None
        try:
            return wait_until(ready, timeout, interval=0.1, what=f"server of {user} ready")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- server log ---\n{self.server_log(user)}\n--- daemon ---\n{self.log_tail()}")

    def stop_server(self, user, token, timeout=60):
        """Stop user's server through the API (if it runs) and wait until it is gone."""
        def gone():
            m = self.server_model(user, token)
            return not m or not (m.get("ready") or m.get("pending"))
        if gone():
            return None
        r = self.api("DELETE", f"/users/{user}/server", token=token)
        assert r.status_code in (202, 204), f"DELETE /users/{user}/server: {r.status_code} {r.text[:300]}"
        wait_until(gone, timeout, interval=0.1, what=f"server of {user} stopped in the user model")
        return r

    def cookie_header(self, sess, url):
        req = requests.Request("GET", url).prepare()
        req.prepare_cookies(sess.cookies)
        return req.headers.get("Cookie", "")

    def ensure_server(self, user, token, timeout=90):
        """Make sure user's server is running and ready (start it through the API if needed)."""
        s = self.server_model(user, token)
        if s and s.get("ready") and not s.get("pending"):
            return s
        if s and s.get("pending") == "stop":
            wait_until(lambda: not (lambda m: m and (m.get("ready") or m.get("pending")))(
                self.server_model(user, token)), timeout, interval=0.1, what=f"server of {user} stopped")
            s = None
        if not (s and s.get("pending")):
            r = self.api("POST", f"/users/{user}/server", token=token)
            assert r.status_code in (201, 202), f"POST /users/{user}/server: {r.status_code} {r.text[:300]}"
        s = self.wait_ready(user, token, timeout)
        self.server_pids(user)
        self.jupyter_token(user)
        return s


def html_unescape(s):
    import html as _html
    return _html.unescape(s)


def ws_url(http_url):
    return "ws" + http_url[len("http"):]


class ReadyProbe(threading.Thread):
    """Connects to a user's Jupyter socket in a tight loop and records when it first accepts."""

    def __init__(self, socket_path, interval=0.002, timeout=120):
        super().__init__(daemon=True)
        self.path = socket_path
        self.interval = interval
        self.timeout = timeout
        self.first_accept = None
        self._halt = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.timeout
        while not self._halt.is_set() and time.monotonic() < deadline:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.first_accept = time.monotonic()
                return
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()
