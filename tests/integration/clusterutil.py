"""A multi-process AIS cluster on 127.0.0.1 for the integration tests: proxies and targets as
separate `aisnode --role proxy|target` processes.

Builds on conftest.AisNode (free port ranges, log file, start/wait/stop by PID, log tails in
failure reports). Every wait polls against a deadline; every process is stopped by its PID.

    c = Cluster(binary, base_dir, proxies=2, targets=3)
    c.start()                  # primary first, then the rest; waits until the map converged
    c.primary, c.proxies[1], c.targets[k]
    c.smap(), c.wait_smap(pred, what)
    c.close()                  # SIGTERM every node (SIGKILL after a deadline)
"""

import os
import re
import subprocess
import time

import requests

from conftest import _OPEN_NODES, START_DEADLINE_S, AisNode, NodeError

POLL_S = 0.05
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text):
    return ANSI_RE.sub("", text)


class ClusterNode(AisNode):
    """One `aisnode --role proxy|target` process with its own ports and data directory."""

    def __init__(self, binary, base_dir, role, cores, num_mountpaths=2, primary_url=None,
                 keepalive_ms=500, keepalive_factor=3, name=None):
        assert role in ("proxy", "target")
        super().__init__(binary, base_dir, cores=cores, num_mountpaths=num_mountpaths,
                         explicit_mountpaths=(role == "target"))
        if role == "proxy":
            self.mountpaths = []
        self.role = role
        self.primary_url = primary_url
        self.keepalive_ms = keepalive_ms
        self.keepalive_factor = keepalive_factor
        self.name = name or f"{role}@{self.port}"
        self.extra_args = []
        # Extra environment of the process (e.g. NOTIFY_SOCKET).
        self.extra_env = {}

    def argv(self):
        args = [
            str(self.binary),
            "--role", self.role,
            "--port", str(self.port),
            "--core-port-base", str(self.core_port_base),
            "--data-dir", str(self.data_dir),
            "--cores", str(self.cores),
            "--keepalive-interval-ms", str(self.keepalive_ms),
            "--keepalive-factor", str(self.keepalive_factor),
        ]
        for m in self.mountpaths:
            args += ["--mountpath", m]
        if self.primary_url:
            args += ["--primary-url", self.primary_url]
        return args + list(self.extra_args)

    @property
    def is_primary(self):
        return self.role == "proxy" and not self.primary_url

    # ---- start without waiting (the cluster waits for all nodes at once) ---------------

    def spawn(self):
        if self.is_alive():
            raise NodeError(f"{self.name}: pid {self.pid} is already running")
        self.starts += 1
        argv = self.argv()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== test harness: start #{self.starts}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=str(self.base_dir), start_new_session=True,
            )
        if self not in _OPEN_NODES:
            _OPEN_NODES.append(self)
        return self

    def check_running(self):
        __tracebackhide__ = True
        rc = self.proc.poll() if self.proc is not None else None
        if self.proc is None or rc is not None:
            self.last_returncode = rc
            raise NodeError(f"{self.name} (pid {self.pid}) exited with status {rc}\n"
                            f"--- log tail ({self.log_path}) ---\n{self.log_tail()}")

    # ---- identity and state --------------------------------------------------------------

    def persisted_id(self):
        """The node ID as persisted on disk (read independently of the node)."""
        if self.role == "proxy":
            return (self.data_dir / "conf" / ".ais.proxy_id").read_text().strip()
        ids = {os.getxattr(m, "user.ais.daemon_id").decode() for m in self.mountpaths}
        assert len(ids) == 1, f"{self.name}: mountpaths carry different IDs {ids}"
        return ids.pop()

    # Headers of this module's own queries (an admin token once authentication is on).
    auth_headers = {}

    def smap(self, timeout=3.0):
        r = requests.get(f"{self.endpoint}/v1/daemon?what=smap", headers=self.auth_headers,
                         timeout=timeout)
        r.raise_for_status()
        return r.json()

    def health(self, timeout=2.0):
        """HTTP status of /v1/health, or None when the node does not answer."""
        try:
            return requests.get(f"{self.endpoint}/v1/health", timeout=timeout).status_code
        except requests.RequestException:
            return None

    def health_response(self, timeout=5.0):
        """The /v1/health response; raises when the node does not answer (a dead node is not
        'not ready')."""
        return requests.get(f"{self.endpoint}/v1/health", timeout=timeout)

    def assert_not_ready(self, why):
        """/v1/health answers exactly 503 "not a member of the cluster map" (spec: a node outside
        the Smap is running but not ready)."""
        __tracebackhide__ = True
        self.check_running()
        try:
            r = self.health_response()
        except requests.RequestException as e:
            raise AssertionError(f"{self.name} ({why}): /v1/health did not answer: {type(e).__name__}: {e}") from None
        assert r.status_code == 503, f"{self.name} ({why}): /v1/health {r.status_code} {r.text[:300]}, want 503"
        assert "not a member of the cluster map" in r.text, f"{self.name} ({why}): /v1/health 503 body {r.text[:300]}"
        return r

    def log_text(self):
        try:
            return strip_ansi(self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def wait_log(self, pattern, deadline_s, since=0):
        """Poll the log (from byte offset `since`) until regex `pattern` matches; return the line."""
        __tracebackhide__ = True
        rx = re.compile(pattern)
        deadline = time.monotonic() + deadline_s
        while True:
            text = self.log_text()[since:]
            for line in text.splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no log line matching {pattern!r} within {deadline_s}s\n"
                                     f"--- log tail ---\n{strip_ansi(self.log_tail())}")
            time.sleep(POLL_S)

    def __repr__(self):
        return f"ClusterNode({self.name}, pid={self.pid}, port={self.port})"


class Cluster:
    """P proxies (the first is primary) and T targets, each a separate process."""

    def __init__(self, binary, base_dir, proxies=2, targets=3, mountpaths=2, proxy_cores=1,
                 target_cores=2, keepalive_ms=500, keepalive_factor=3):
        self.binary = binary
        self.base_dir = base_dir
        self.mountpaths_per_target = mountpaths
        self.target_cores = target_cores
        self.keepalive_ms = keepalive_ms
        self.keepalive_factor = keepalive_factor
        self.proxies = []
        self.targets = []
        primary = ClusterNode(binary, base_dir / "proxy0", "proxy", proxy_cores,
                              keepalive_ms=keepalive_ms, keepalive_factor=keepalive_factor, name="proxy0")
        self.proxies.append(primary)
        for i in range(1, proxies):
            self.proxies.append(ClusterNode(binary, base_dir / f"proxy{i}", "proxy", proxy_cores,
                                            primary_url=primary.endpoint, keepalive_ms=keepalive_ms,
                                            keepalive_factor=keepalive_factor, name=f"proxy{i}"))
        for j in range(targets):
            self.add_target_node(f"target{j}")

    def add_target_node(self, name, primary_url=None):
        """Create (not start) a target that joins this cluster; it is tracked by the cluster."""
        t = ClusterNode(self.binary, self.base_dir / name, "target", self.target_cores,
                        num_mountpaths=self.mountpaths_per_target,
                        primary_url=primary_url or self.primary.endpoint,
                        keepalive_ms=self.keepalive_ms, keepalive_factor=self.keepalive_factor, name=name)
        self.targets.append(t)
        return t

    @property
    def primary(self):
        return self.proxies[0]

    @property
    def nodes(self):
        return self.proxies + self.targets

    @property
    def keepalive_timeout_s(self):
        return self.keepalive_ms * self.keepalive_factor / 1000.0

    def start(self, deadline_s=START_DEADLINE_S):
        __tracebackhide__ = True
        self.primary.start(deadline_s)
        for n in self.nodes[1:]:
            n.spawn()
        self.wait_converged(self.nodes, deadline_s)
        return self

    def ensure_converged(self, deadline_s=30.0):
        """Known state for the next test of a module sharing this cluster: every node running and
        the map converged. A dead node is started again (same ports and data directory); if the
        cluster still does not converge, every node is stopped and the cluster started afresh on
        its directories. Returns what had to be done ("" when nothing), for a warning."""
        __tracebackhide__ = True
        dead = [n.name for n in self.nodes if not n.is_alive()]
        try:
            if self.primary.name in dead:
                raise NodeError(f"the primary {self.primary.name} is not running")
            for n in self.nodes:
                if not n.is_alive():
                    n.spawn()
            self.wait_converged(self.nodes, deadline_s)
            return f"restarted {dead}" if dead else ""
        except (NodeError, AssertionError, requests.RequestException, OSError) as e:
            problem = str(e).splitlines()[0]
        self.close()
        self.start()
        return f"dead {dead}; {problem}; restarted the whole cluster"

    def close(self):
        errors = []
        for n in reversed(self.nodes):
            try:
                n.close()
            except Exception as e:  # keep stopping the others
                errors.append(f"{n.name}: {e}")
        if errors:
            raise NodeError("; ".join(errors))

    # ---- cluster map -----------------------------------------------------------------------

    def smap(self, via=None):
        return (via or self.primary).smap()

    def wait_smap(self, pred, what, deadline_s=30.0, via=None):
        """Poll the Smap of `via` (default: the primary) until pred(smap) is true; return it."""
        __tracebackhide__ = True
        node = via or self.primary
        deadline = time.monotonic() + deadline_s
        last = "no answer"
        while True:
            try:
                s = node.smap()
                if pred(s):
                    return s
                last = f"v{s['version']}: proxies {sorted(s['pmap'])}, targets {sorted(s['tmap'])}"
            except (requests.RequestException, ValueError) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise AssertionError(f"{node.name}'s Smap: {what}: not within {deadline_s}s (last: {last})")
            time.sleep(POLL_S)

    def wait_converged(self, members, deadline_s=30.0):
        """Wait until the primary's Smap lists exactly `members` (running nodes, by persisted ID and
        port) and every member answers /v1/health 200 holding the primary's Smap version."""
        __tracebackhide__ = True
        deadline = time.monotonic() + deadline_s
        last = "nothing checked yet"
        while True:
            for n in members:
                n.check_running()
            try:
                last = self._converged(members)
                if last is None:
                    return self.primary.smap()
            except (requests.RequestException, ValueError, OSError) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise NodeError(f"cluster not converged within {deadline_s}s: {last}")
            time.sleep(POLL_S)

    def _converged(self, members):
        smap = self.primary.smap()
        want_p = {n.persisted_id(): n.port for n in members if n.role == "proxy"}
        want_t = {n.persisted_id(): n.port for n in members if n.role == "target"}
        have_p = {i: int(s["public_net"]["daemon_port"]) for i, s in smap["pmap"].items()}
        have_t = {i: int(s["public_net"]["daemon_port"]) for i, s in smap["tmap"].items()}
        if have_p != want_p or have_t != want_t:
            return f"primary Smap v{smap['version']} has proxies {have_p}, targets {have_t}; want {want_p}, {want_t}"
        for n in members:
            h = n.health()
            if h != 200:
                return f"{n.name}: /v1/health {h}"
            theirs = n.smap()
            if (theirs["uuid"], theirs["version"]) != (smap["uuid"], smap["version"]):
                return f"{n.name} holds Smap v{theirs['version']} ({theirs['uuid']}), primary v{smap['version']}"
        return None

    def wait_rebalanced(self, deadline_s=60.0):
        """Wait until no target of the primary's Smap runs a rebalance and the newest one of each
        finished cleanly (not aborted, no errors): redundancy is whole again after a membership
        change (the window in which it is reduced: cluster/src/ec.rs, module docs)."""
        __tracebackhide__ = True
        deadline = time.monotonic() + deadline_s
        last = "nothing checked yet"
        while True:
            try:
                last = self._rebalance_pending()
                if last is None:
                    return
            except (requests.RequestException, ValueError, KeyError) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise NodeError(f"rebalance not finished within {deadline_s}s: {last}")
            time.sleep(POLL_S)

    def _rebalance_pending(self):
        smap = self.primary.smap()
        waiting = []
        for tid, sn in smap["tmap"].items():
            url = sn["public_net"]["direct_url"]
            r = requests.get(f"{url}/v1/daemon?what=jobs", headers=self.primary.auth_headers,
                             timeout=10)
            if r.status_code != 200:
                waiting.append(f"{tid}: what=jobs {r.status_code}")
                continue
            jobs = [j for j in r.json() if j.get("kind") == "rebalance"]
            running = [j["id"] for j in jobs if not j["finished"]]
            if running:
                waiting.append(f"{tid}: running {running}")
            elif jobs:
                newest = max(jobs, key=lambda j: (int(j["smap_version"]), j["start_time_ns"]))
                if newest["aborted"] or newest["errors"]:
                    waiting.append(f"{tid}: newest {newest['id']} aborted={newest['aborted']} "
                                   f"errors={newest['errors']}")
        return "; ".join(waiting) or None

    # ---- placement -------------------------------------------------------------------------

    def target_by_id(self, tid):
        for t in self.targets:
            if t.persisted_id() == tid:
                return t
        raise KeyError(tid)
