"""Fixtures that run a real `aisnode` on 127.0.0.1 for the integration tests.

Every node is started on free ports in a pytest temporary directory, waited for by polling
`GET /v1/health` (plus a TCP connect to every core port) against a deadline, and stopped by
its own PID only: SIGTERM, then SIGKILL after a deadline. Nothing is ever killed by name.

The node's stdout and stderr go to `<node dir>/aisnode.log`; when a test fails, the tail of
the log of every node that is still open is attached to the failure report.

Environment:
    AISNODE_BIN   path of the binary (default: <repo>/target/release/aisnode; relative
                  paths are taken from the repository root).
"""

import atexit
import os
import random
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests

from aisutil import make_client

REPO_ROOT = Path(__file__).resolve().parents[2]
CORES = 2
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 15.0
POLL_INTERVAL_S = 0.05
LOG_TAIL_BYTES = 12000

# Nodes that were started and not yet closed: their log tails go into failure reports.
_OPEN_NODES = []
# Ports handed out in this session, so that two nodes never race for the same range.
_USED_PORTS = set()


class NodeError(RuntimeError):
    pass


def aisnode_binary_path():
    raw = os.environ.get("AISNODE_BIN", "target/release/aisnode")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def _ephemeral_port_range():
    """Linux's range for automatically bound local ports (outgoing connections)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999  # the kernel default


# Test ports stay below the ephemeral range: a port there can be taken at any moment by some
# process's outgoing connection (aisnode's own intra-cluster calls included) between the
# free-port probe and the node's bind(), or while a killed node is being restarted on it.
# A node uses `port` (public; also intra-control/data, which default to it) and `port + 1 ..
# port + cores` (one per core), all inside [PORT_MIN, PORT_MAX].
EPHEMERAL_MIN, EPHEMERAL_MAX = _ephemeral_port_range()
PORT_MIN = 10000
PORT_MAX = min(32000, EPHEMERAL_MIN - 1)


def _port_is_free(port):
    # No SO_REUSEADDR: a port with TIME_WAIT leftovers counts as busy, which is what we want.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port_range(count):
    """A random P such that P .. P+count-1 are all free and inside [PORT_MIN, PORT_MAX]."""
    if PORT_MAX - PORT_MIN + 1 < 100 * count:
        raise NodeError(f"test port range {PORT_MIN}-{PORT_MAX} is too small (ephemeral ports start at "
                        f"{EPHEMERAL_MIN}, /proc/sys/net/ipv4/ip_local_port_range)")
    rng = random.Random()
    for _ in range(500):
        base = rng.randint(PORT_MIN, PORT_MAX - count + 1)
        ports = range(base, base + count)
        if any(p in _USED_PORTS for p in ports):
            continue
        if all(_port_is_free(p) for p in ports):
            _USED_PORTS.update(ports)
            return base
    raise NodeError(f"no {count} consecutive free ports in {PORT_MIN}-{PORT_MAX}")


def _tcp_accepts(port, timeout_s=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def terminate(proc, deadline_s=STOP_DEADLINE_S):
    """SIGTERM `proc`, then SIGKILL after the deadline; (returncode, needed_sigkill)."""
    os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=deadline_s), False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=STOP_DEADLINE_S), True


class AisNode:
    """One aisnode process: proxy + target on `port`, core k also on `port + 1 + k`."""

    # "https" for a node whose public network speaks TLS (test_tls.py).
    scheme = "http"

    def __init__(self, binary, base_dir, cores=CORES, num_mountpaths=2, explicit_mountpaths=True):
        self.binary = Path(binary)
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(os.path.realpath(self.base_dir / "data"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cores = cores
        self.explicit_mountpaths = explicit_mountpaths
        # With no --mountpath the contract is D/mp1 and D/mp2.
        n = num_mountpaths if explicit_mountpaths else 2
        self.mountpaths = [os.path.normpath(str(self.data_dir / f"mp{i + 1}")) for i in range(n)]
        if explicit_mountpaths:
            for m in self.mountpaths:
                os.makedirs(m, exist_ok=True)
        self.port = pick_port_range(cores + 1)
        self.core_port_base = self.port + 1
        self.core_ports = [self.core_port_base + k for k in range(cores)]
        self.log_path = self.base_dir / "aisnode.log"
        self.proc = None
        self.starts = 0
        self.last_returncode = None

    # ---- identity ------------------------------------------------------------------

    @property
    def endpoint(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def core_endpoint(self, k):
        return f"{self.scheme}://127.0.0.1:{self.core_ports[k]}"

    def mountpath_core(self, i):
        """Contract: mountpath i belongs to core i % cores."""
        return i % self.cores

    def argv(self):
        args = [
            str(self.binary),
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--cores", str(self.cores),
            "--core-port-base", str(self.core_port_base),
        ]
        if self.explicit_mountpaths:
            for m in self.mountpaths:
                args += ["--mountpath", m]
        return args

    # ---- lifecycle -----------------------------------------------------------------

    def is_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, deadline_s=START_DEADLINE_S):
        __tracebackhide__ = True
        if self.is_alive():
            raise NodeError(f"aisnode pid {self.pid} is already running")
        self.starts += 1
        argv = self.argv()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(getattr(self, "extra_env", {}))
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== test harness: start #{self.starts}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.base_dir),
                start_new_session=True,  # a Ctrl-C at the terminal is handled by us, not delivered to it
            )
        if self not in _OPEN_NODES:
            _OPEN_NODES.append(self)
        self.wait_ready(deadline_s)
        return self

    def wait_ready(self, deadline_s=START_DEADLINE_S):
        __tracebackhide__ = True
        deadline = time.monotonic() + deadline_s
        health_url = f"{self.endpoint}/v1/health"
        last = "no answer yet"
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.last_returncode = rc
                tail = self.log_tail()
                hint = ""
                if self.starts > 1 and "in use" in tail.split("start #")[-1]:
                    hint = (
                        "\nhint: a restart on the same ports failed to bind; connections the killed process "
                        "left in TIME_WAIT block bind() unless the listening sockets set SO_REUSEADDR"
                    )
                raise NodeError(
                    f"aisnode exited with status {rc} before it was ready (start #{self.starts}){hint}\n"
                    f"--- log tail ({self.log_path}) ---\n{tail}"
                )
            try:
                r = requests.get(health_url, timeout=1.0)
                last = f"HTTP {r.status_code}"
                if r.status_code == 200 and all(_tcp_accepts(p) for p in self.core_ports):
                    return
                if r.status_code == 200:
                    last = "health 200 but a core port does not accept connections"
            except requests.RequestException as e:
                last = f"{type(e).__name__}"
            if time.monotonic() > deadline:
                raise NodeError(
                    f"aisnode pid {self.pid} not ready within {deadline_s}s (last: {last})\n"
                    f"--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def kill9(self):
        """SIGKILL this node's PID and reap it."""
        if not self.is_alive():
            raise NodeError("kill9: aisnode is not running")
        os.kill(self.proc.pid, signal.SIGKILL)
        self.last_returncode = self.proc.wait(timeout=STOP_DEADLINE_S)
        return self.last_returncode

    def stop(self, deadline_s=STOP_DEADLINE_S):
        """SIGTERM, then SIGKILL after the deadline. Returns (returncode, needed_sigkill)."""
        if not self.is_alive():
            return self.last_returncode, False
        self.last_returncode, killed = terminate(self.proc, deadline_s)
        if killed:
            with open(self.log_path, "ab") as log:
                log.write(f"\n===== test harness: SIGTERM ignored for {deadline_s}s, sent SIGKILL\n".encode())
        return self.last_returncode, killed

    def ensure_running(self, deadline_s=START_DEADLINE_S):
        """Bring a node shared by several tests back to a known state before the next one: running
        and ready. Returns what had to be done ("" when nothing), for a warning."""
        __tracebackhide__ = True
        if not self.is_alive():
            rc = self.proc.poll() if self.proc is not None else None
            self.start(deadline_s)
            return f"{self!r} had exited (status {rc}); restarted on the same data directory"
        try:
            self.wait_ready(10.0)
            return ""
        except NodeError as e:
            first_line = str(e).splitlines()[0]
        self.stop()
        self.start(deadline_s)
        return f"{self!r} was not ready ({first_line}); restarted on the same data directory"

    def restart(self, deadline_s=START_DEADLINE_S):
        """Stop if running (SIGTERM), then start on the same ports and directories."""
        __tracebackhide__ = True
        if self.is_alive():
            self.stop()
        return self.start(deadline_s)

    def close(self):
        try:
            if self.is_alive():
                self.stop()
        finally:
            if self in _OPEN_NODES:
                _OPEN_NODES.remove(self)

    # ---- diagnostics ---------------------------------------------------------------

    def log_tail(self, nbytes=LOG_TAIL_BYTES):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - nbytes))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"<cannot read {self.log_path}: {e}>"

    def __repr__(self):
        return f"AisNode(pid={self.pid}, port={self.port}, data_dir={self.data_dir})"


def failed_so_far(item):
    """True if the test `item` failed in setup or call (for a fixture's teardown)."""
    return any(getattr(getattr(item, f"rep_{when}", None), "failed", False) for when in ("setup", "call"))


@atexit.register
def _stop_leftover_nodes():
    for node in list(_OPEN_NODES):
        try:
            node.close()
        except Exception:  # best effort at interpreter exit
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    # item.rep_setup / rep_call / rep_teardown: fixtures that share state across tests look at
    # them to tell whether the test they served failed (and left that state unknown).
    setattr(item, f"rep_{rep.when}", rep)
    if rep.failed:
        for node in list(_OPEN_NODES):
            rep.sections.append((f"aisnode log tail: {node.log_path} (pid {node.pid})", node.log_tail()))


# ---- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aisnode_binary():
    path = aisnode_binary_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"aisnode binary not found or not executable at {path}; "
            f"build it with `cargo build --release` or set AISNODE_BIN"
        )
    return path


def _start_or_fail(node):
    error = None
    try:
        node.start()
    except NodeError as e:
        error = str(e)
    if error is not None:
        node.close()
        pytest.fail(error, pytrace=False)
    return node


@pytest.fixture
def node_factory(aisnode_binary, tmp_path):
    """make(**kwargs) -> started AisNode in its own subdirectory of this test's tmp_path."""
    nodes = []

    def make(**kwargs):
        n = AisNode(aisnode_binary, tmp_path / f"node{len(nodes)}", **kwargs)
        nodes.append(n)
        return _start_or_fail(n)

    yield make
    for n in nodes:
        n.close()


@pytest.fixture
def node(node_factory):
    """A fresh node for one test: 2 cores, 2 explicit mountpaths."""
    return node_factory()


@pytest.fixture(scope="module")
def module_node(aisnode_binary, tmp_path_factory):
    """One node shared by a test module: 2 cores, 3 mountpaths (core 0 owns mp1 and mp3)."""
    n = AisNode(aisnode_binary, tmp_path_factory.mktemp("aisnode"), num_mountpaths=3)
    _start_or_fail(n)
    yield n
    n.close()


# Module-scoped single-node fixtures (conftest and s3util): before every test that uses one, the
# node must be running and ready, so that one test that crashed it does not fail the rest of the
# module for the same reason.
SHARED_NODE_FIXTURES = ("module_node", "s3_node", "s3_anon_node")


@pytest.fixture(autouse=True)
def _shared_nodes_ready(request):
    for name in SHARED_NODE_FIXTURES:
        if name in request.fixturenames:
            node = request.getfixturevalue(name)
            note = node.ensure_running()
            if note:
                warnings.warn(f"before {request.node.nodeid}: {note}", stacklevel=1)


@pytest.fixture
def client(node):
    return make_client(node.endpoint)


@pytest.fixture(scope="module")
def module_client(module_node):
    return make_client(module_node.endpoint)
