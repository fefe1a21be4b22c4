"""Static checks of this test suite itself (no aisnode needed): nothing in it may wait forever,
and test ports stay out of the kernel's ephemeral range.

* every HTTP call made with `requests` (module functions and sessions) passes `timeout=`;
* every `subprocess.run/check_output/check_call/call`, `Popen.wait/communicate` and thread
  `join()` passes a timeout;
* pytest-timeout is configured (pytest.ini), so a hung node cannot hang CI;
* conftest's port range lies below /proc/sys/net/ipv4/ip_local_port_range.
"""

import ast
from pathlib import Path

import pytest

import conftest

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).resolve().parent
HTTP_METHODS = {"get", "put", "post", "delete", "head", "patch", "options", "request"}
REQUESTS_KWARGS = {"data", "json", "headers", "allow_redirects", "params", "stream", "files", "auth", "timeout"}
SESSION_NAMES = {"s", "session", "sess"}  # how the suite names its requests.Session objects


def _receiver(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_receiver(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_receiver(node.func)}()"
    return type(node).__name__


def calls_without_timeout(path):
    """[(line, call)] of calls in `path` that can block and pass no timeout."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr, recv = node.func.attr, _receiver(node.func.value)
        kwargs = {k.arg for k in node.keywords}
        if None in kwargs or "timeout" in kwargs:  # **kwargs: cannot tell; timeout: fine
            continue
        what = f"{recv}.{attr}(...)"
        if attr in HTTP_METHODS and (recv == "requests" or recv.split(".")[-1] in SESSION_NAMES
                                     or kwargs & REQUESTS_KWARGS):
            out.append((node.lineno, what))
        elif recv == "subprocess" and attr in ("run", "check_output", "check_call", "call"):
            out.append((node.lineno, what))
        elif attr in ("wait", "communicate", "join") and not node.args:
            out.append((node.lineno, what))
    return out


def test_every_blocking_call_has_a_timeout():
    files = sorted(HERE.glob("*.py"))
    assert len(files) > 10, f"found only {files} next to this test"
    bad = [f"{p.name}:{line}: {what}" for p in files for line, what in calls_without_timeout(p)]
    assert not bad, "calls that can wait forever (pass timeout=):\n" + "\n".join(bad)


def test_the_checker_finds_calls_without_timeout(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import requests, subprocess\n"
        "requests.get(url)\n"
        "s.put(url, data=b'x')\n"
        "local.s.get(url)\n"
        "subprocess.run(['true'])\n"
        "proc.wait()\n"
        "t.join()\n"
        "requests.get(url, timeout=3)\n"
        "d.get('key')\n"
        "','.join(parts)\n"
        "proc.wait(timeout=5)\n")
    assert [line for line, _ in calls_without_timeout(sample)] == [2, 3, 4, 5, 6, 7]


def test_pytest_timeout_is_configured(request):
    assert request.config.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    assert float(request.config.getini("timeout")) > 0, "pytest.ini sets no per-test timeout"
    assert request.config.getini("timeout_method") == "signal", \
        "the thread method exits the interpreter on a timeout and leaves aisnode processes running"


def test_ports_are_below_the_ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_min = int(f.read().split()[0])
    assert 1024 <= conftest.PORT_MIN < conftest.PORT_MAX < ephemeral_min, \
        f"test ports {conftest.PORT_MIN}-{conftest.PORT_MAX}, ephemeral ports from {ephemeral_min}"
    for _ in range(20):
        base = conftest.pick_port_range(conftest.CORES + 1)
        assert conftest.PORT_MIN <= base and base + conftest.CORES <= conftest.PORT_MAX, base
