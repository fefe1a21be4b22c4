"""The `authn` binary (our AIS-compatible AuthN service) for the integration tests.

Started on a free 127.0.0.1 port with its configuration directory in a pytest temporary
directory, waited for by polling `GET /v1/roles` against a deadline, stopped by its own PID
only (SIGTERM, then SIGKILL after a deadline). Its log goes to `<dir>/authn.log`; while it
runs, failure reports carry the log's tail (it is listed with conftest's open nodes).

Environment:
    AUTHN_BIN   path of the binary (default: <repo>/target/release/authn; relative paths are
                taken from the repository root), as AISNODE_BIN is for aisnode.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import requests

from conftest import _OPEN_NODES, terminate, POLL_INTERVAL_S, REPO_ROOT, START_DEADLINE_S, STOP_DEADLINE_S, NodeError, \
    pick_port_range

ADMIN_USER = "admin"
ADMIN_PASS = "admin-test-password"


def authn_binary_path():
    raw = os.environ.get("AUTHN_BIN", "target/release/authn")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


class AuthnServer:
    """One `authn` process: `-config <conf_dir>`, port from AIS_AUTHN_PORT. `secret` None: no
    AIS_AUTHN_SECRET_KEY (AuthN signs RS256 with its RSA key, e.g. AIS_AUTHN_PRIVATE_KEY_FILE in
    `extra_env`)."""

    def __init__(self, binary, base_dir, secret, su_pass=ADMIN_PASS):
        self.binary = Path(binary)
        self.base_dir = Path(base_dir)
        self.conf_dir = self.base_dir / "conf"
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.port = pick_port_range(1)
        self.secret = secret
        self.su_pass = su_pass
        self.log_path = self.base_dir / "authn.log"
        self.proc = None
        self.last_returncode = None
        self.extra_env = {}
        # AIS's shape; the secret comes from the environment, as AIS's deployments pass it.
        (self.conf_dir / "authn.json").write_text(json.dumps({
            "log": {"dir": "", "level": "3"},
            "net": {"external_url": "", "http": {"port": 52001, "use_https": False}},
            "auth": {"secret": "", "expiration_time": "24h", "max_token_age": "2160h"},
            "timeout": {"default_timeout": "30s"},
        }))

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def is_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, deadline_s=START_DEADLINE_S):
        __tracebackhide__ = True
        if self.is_alive():
            raise NodeError(f"authn pid {self.pid} is already running")
        env = dict(os.environ)
        env.pop("AIS_AUTHN_SECRET_KEY", None)
        if self.secret is not None:
            env["AIS_AUTHN_SECRET_KEY"] = self.secret
        env.update(self.extra_env)
        env.update({
            "AIS_AUTHN_SU_NAME": ADMIN_USER,
            "AIS_AUTHN_SU_PASS": self.su_pass,
            "AIS_AUTHN_PORT": str(self.port),
            "RUST_BACKTRACE": "1",
        })
        argv = [str(self.binary), "-config", str(self.conf_dir), "-host", "127.0.0.1"]
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== test harness: start: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, cwd=str(self.base_dir), start_new_session=True)
        if self not in _OPEN_NODES:
            _OPEN_NODES.append(self)
        deadline = time.monotonic() + deadline_s
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.last_returncode = rc
                raise NodeError(f"authn exited with status {rc} before it was ready\n{self.log_tail()}")
            try:
                if requests.get(f"{self.endpoint}/v1/roles", timeout=1.0).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise NodeError(f"authn pid {self.pid} not ready within {deadline_s}s\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL_S)

    def stop(self, deadline_s=STOP_DEADLINE_S):
        """SIGTERM, then SIGKILL after the deadline. Returns (returncode, needed_sigkill)."""
        if not self.is_alive():
            return self.last_returncode, False
        self.last_returncode, killed = terminate(self.proc, deadline_s)
        return self.last_returncode, killed

    def close(self):
        try:
            self.stop()
        finally:
            if self in _OPEN_NODES:
                _OPEN_NODES.remove(self)

    def log_tail(self, nbytes=12000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - nbytes))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"<cannot read {self.log_path}: {e}>"

    def __repr__(self):
        return f"AuthnServer(pid={self.pid}, port={self.port})"
