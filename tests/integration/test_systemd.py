"""systemd's notify protocol (issue 15): with NOTIFY_SOCKET set, aisnode sends READY=1 only
once it is a member of the cluster map and answers /v1/health 200, and STOPPING=1 when it
starts to stop. The test opens the socket itself, as systemd would."""

import os
import socket
import time

import pytest
import requests

from clusterutil import Cluster

TIMEOUT = 10


def notify_socket(path_or_abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if path_or_abstract.startswith("@"):
        s.bind("\0" + path_or_abstract[1:])
    else:
        s.bind(path_or_abstract)
    return s


def recv(s, timeout_s):
    s.settimeout(timeout_s)
    try:
        return s.recv(4096).decode()
    except socket.timeout:
        return None


def health(node):
    try:
        return requests.get(f"{node.endpoint}/v1/health", timeout=TIMEOUT).status_code
    except requests.RequestException as e:
        return type(e).__name__


def test_ready_only_once_joined_and_stopping_on_sigterm(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=1, mountpaths=1, target_cores=1)
    t = c.targets[0]
    path = str(tmp_path / "notify.sock")
    s = notify_socket(path)
    t.extra_env = {"NOTIFY_SOCKET": path}
    try:
        # The target starts while its primary is not running: it serves, but is no member.
        t.spawn()
        deadline = time.monotonic() + 15
        while health(t) != 503:
            t.check_running()
            assert time.monotonic() < deadline, f"target health {health(t)}, want 503 before joining"
            time.sleep(0.05)
        assert recv(s, 2.0) is None, "READY=1 sent before the node joined a cluster"
        assert health(t) == 503
        # The primary comes up; the target joins and only then says READY=1.
        c.primary.start()
        msg = recv(s, 30.0)
        assert msg is not None, "no READY=1 after the primary came up"
        assert msg.splitlines()[0] == "READY=1", msg
        assert health(t) == 200, "READY=1 sent while /v1/health is not 200"
        assert t.persisted_id() in msg, msg
        c.wait_converged(c.nodes)
        # SIGTERM: STOPPING=1 first, then the node drains and exits.
        rc, killed = t.stop()
        assert not killed and rc == 0, (rc, killed)
        msg = recv(s, 5.0)
        assert msg is not None and msg.splitlines()[0] == "STOPPING=1", msg
    finally:
        c.close()
        s.close()


def test_abstract_socket_and_no_socket(aisnode_binary, tmp_path):
    """`@name` is the abstract namespace (what systemd uses); without NOTIFY_SOCKET nothing is
    sent and the node starts as always."""
    name = f"@ais-test-{os.getpid()}-{time.monotonic_ns()}"
    s = notify_socket(name)
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=0)
    c.primary.extra_env = {"NOTIFY_SOCKET": name}
    try:
        c.primary.spawn()
        c.primary.wait_ready()
        msg = recv(s, 15.0)
        assert msg is not None and msg.startswith("READY=1\nSTATUS="), msg
        assert health(c.primary) == 200
    finally:
        c.close()
        s.close()
    other = Cluster(aisnode_binary, tmp_path / "plain", proxies=1, targets=0)
    other.primary.extra_env = {"NOTIFY_SOCKET": ""}
    try:
        other.primary.spawn()
        other.primary.wait_ready()
        assert health(other.primary) == 200
    finally:
        other.close()


@pytest.mark.parametrize("unit", ["aisnode@.service"])
def test_unit_asks_for_notify(unit):
    """The shipped unit uses the protocol this node speaks (verified by test_tuning.py's
    systemd-analyze run)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "tuning", "systemd", unit)).read()
    assert "Type=notify" in text and "NotifyAccess=main" in text
    assert "LimitMEMLOCK=infinity" in text and "LimitNOFILE=" in text
