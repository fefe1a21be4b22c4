"""The `ais` CLI (crate `ais/`) against a real aisnode: a bucket's whole life (create, recursive
PUT of a nested directory, ls, GET back byte for byte, props set + show, object rm, bucket rm),
a job waited on with its progress (a paced resilver after a mountpath attach) and its exit
status when it is aborted, cluster and storage views, `ais show performance`, completions,
and bad input (usage errors with suggestions, a node that is down, API errors in one line).

Environment:
    AIS_CLI_BIN   path of the CLI (default: <repo>/target/release/ais; relative paths are
                  taken from the repository root).
"""

import json
import os
import pty
import random
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

TIMEOUT_S = 120
HTTP_TIMEOUT_S = 30


def cli_binary_path():
    raw = os.environ.get("AIS_CLI_BIN", "target/release/ais")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


@pytest.fixture(scope="session")
def cli():
    path = cli_binary_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"ais CLI not found at {path}; build it with `cargo build --release -p ais` or set AIS_CLI_BIN")
    return path


def run(cli, endpoint, *args, stdin=subprocess.DEVNULL, timeout=TIMEOUT_S):
    env = dict(os.environ)
    env["AIS_ENDPOINT"] = endpoint
    env.pop("RUST_BACKTRACE", None)
    return subprocess.run([str(cli), *args], stdin=stdin, capture_output=True, text=True, env=env,
                          timeout=timeout)


def ok(cli, endpoint, *args, **kw):
    r = run(cli, endpoint, *args, **kw)
    assert r.returncode == 0, f"ais {' '.join(args)}: rc={r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def fails(cli, endpoint, *args, rc=1, **kw):
    r = run(cli, endpoint, *args, **kw)
    assert r.returncode == rc, f"ais {' '.join(args)}: rc={r.returncode} (expected {rc})\n{r.stdout}\n{r.stderr}"
    assert "panicked" not in r.stderr and "backtrace" not in r.stderr.lower(), r.stderr
    return r


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    return lines[0]


def job_id(stdout):
    m = re.search(r"Started job (\S+) ", stdout)
    assert m, f"no job ID in {stdout!r}"
    return m.group(1)


def smap(node):
    r = requests.get(f"{node.endpoint}/v1/daemon?what=smap", timeout=HTTP_TIMEOUT_S)
    assert r.status_code == 200, r.text
    return r.json()


def make_tree(root, rng):
    """A nested directory: {relative name: bytes}, sizes from empty to a few hundred KiB."""
    files = {
        "top.txt": b"hello ais\n",
        "empty": b"",
        "a/one.bin": rng.randbytes(1000),
        "a/b/two.bin": rng.randbytes(70_000),
        "a/b/c/three.bin": rng.randbytes(300_001),
        "z/name with space.txt": b"spaced",
    }
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def listing(cli, endpoint, uri, *extra):
    """{name: size} from `ais ls URI --units raw -H`."""
    r = ok(cli, endpoint, "ls", uri, "--units", "raw", "-H", *extra)
    out = {}
    for line in r.stdout.splitlines():
        name, size = line.rsplit(None, 1)
        out[name] = int(size)
    return out


def test_bucket_lifecycle(cli, module_node, tmp_path):
    ep = module_node.endpoint
    rng = random.Random(7)
    bucket = f"cli-{rng.randrange(1 << 30):x}"
    uri = f"ais://{bucket}"

    r = ok(cli, ep, "bucket", "create", uri)
    assert f'"{uri}" created' in r.stdout
    assert uri in ok(cli, ep, "ls").stdout.split()
    assert uri in ok(cli, ep, "ls", "ais://").stdout.split()
    r = fails(cli, ep, "bucket", "create", uri)
    assert "already exists" in one_line(r.stderr) and "409" in r.stderr

    src = tmp_path / "src"
    files = make_tree(src, rng)
    # Without --recursive a directory is refused.
    r = fails(cli, ep, "put", str(src), uri)
    assert "--recursive" in one_line(r.stderr)
    r = ok(cli, ep, "object", "put", str(src), uri, "--recursive", "--units", "raw")
    total = sum(len(d) for d in files.values())
    m = re.fullmatch(rf"PUT (\d+) objects \((\d+)\) to {re.escape(uri)} in \S+, errors: (\d+)\n", r.stdout)
    assert m, r.stdout
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (len(files), total, 0)

    # ls: names and sizes; the default view has a header, human sizes and a footer.
    assert listing(cli, ep, uri) == {n: len(d) for n, d in files.items()}
    r = ok(cli, ep, "ls", uri)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE"]
    assert lines[-1] == f"Listed {len(files)} names"
    assert any(line.startswith("a/b/c/three.bin") and line.endswith("292.97KiB") for line in lines), r.stdout
    assert listing(cli, ep, uri, "--prefix", "a/b/") == {"a/b/two.bin": 70_000, "a/b/c/three.bin": 300_001}
    assert listing(cli, ep, f"{uri}/a/b/") == {"a/b/two.bin": 70_000, "a/b/c/three.bin": 300_001}
    assert len(listing(cli, ep, uri, "--limit", "2", "--page-size", "1")) == 2

    # A directory under a virtual directory (the destination's object part).
    r = ok(cli, ep, "put", "-r", str(src / "a"), f"{uri}/vdir")
    assert r.stdout.startswith("PUT 3 objects"), r.stdout
    assert listing(cli, ep, uri, "--prefix", "vdir/") == {"vdir/one.bin": 1000, "vdir/b/two.bin": 70_000,
                                                           "vdir/b/c/three.bin": 300_001}
    ok(cli, ep, "object", "rm", f"{uri}/vdir/one.bin", f"{uri}/vdir/b/two.bin", f"{uri}/vdir/b/c/three.bin")

    # A file over the CLI's Expect: 100-continue threshold (1 MiB): the redirect comes before
    # the body, which then goes to the target once, whole.
    big = tmp_path / "big.bin"
    big.write_bytes(rng.randbytes(3 * (1 << 20) + 5))
    ok(cli, ep, "put", str(big), f"{uri}/big")
    r = subprocess.run([str(cli), "object", "get", f"{uri}/big", "-"], capture_output=True,
                       env={**os.environ, "AIS_ENDPOINT": ep}, timeout=TIMEOUT_S)
    assert r.returncode == 0 and r.stdout == big.read_bytes(), r.stderr
    ok(cli, ep, "object", "rm", f"{uri}/big")

    # A single file under another name, and from stdin.
    ok(cli, ep, "put", str(src / "a/one.bin"), f"{uri}/renamed/one")
    with open(src / "top.txt", "rb") as f:
        ok(cli, ep, "put", "-", f"{uri}/from-stdin", stdin=f)
    got = listing(cli, ep, uri, "--prefix", "renamed/")
    assert got == {"renamed/one": 1000}

    # GET back: the whole bucket into a directory, one object to stdout, cat.
    dst = tmp_path / "dst"
    r = ok(cli, ep, "get", uri, str(dst), "--prefix", "", "--units", "raw")
    assert re.fullmatch(rf"GET {len(files) + 2} objects \(\d+\) from {re.escape(uri)} to \S+ in \S+, errors: 0\n",
                        r.stdout), r.stdout
    for name, data in files.items():
        assert (dst / name).read_bytes() == data, name
    assert (dst / "renamed/one").read_bytes() == files["a/one.bin"]
    assert (dst / "from-stdin").read_bytes() == files["top.txt"]
    r = subprocess.run([str(cli), "object", "get", f"{uri}/a/b/two.bin", "-"], capture_output=True,
                       env={**os.environ, "AIS_ENDPOINT": ep}, timeout=TIMEOUT_S)
    assert r.returncode == 0 and r.stdout == files["a/b/two.bin"]
    assert ok(cli, ep, "object", "cat", f"{uri}/z/name with space.txt").stdout == "spaced"
    one = tmp_path / "one-file"
    ok(cli, ep, "get", f"{uri}/a/b/c/three.bin", str(one))
    assert one.read_bytes() == files["a/b/c/three.bin"]
    # A missing object: the node's message and status in one line, and no file left behind.
    missing = tmp_path / "missing"
    r = fails(cli, ep, "get", f"{uri}/no/such", str(missing))
    line = one_line(r.stderr)
    assert line.startswith("ais: ") and "does not exist" in line and "404" in line, line
    assert not missing.exists()

    # Props: set nested keys, see the change, wait for the mirroring job it started.
    r = ok(cli, ep, "bucket", "props", "set", uri, "mirror.enabled=true", "mirror.copies=2")
    assert '"mirror.enabled" set to: "true" (was: "false")' in r.stdout, r.stdout
    xid = job_id(r.stdout)
    r = ok(cli, ep, "job", "wait", xid, "--timeout", "60s")
    assert re.search(rf"Job make-n-copies\[{re.escape(xid)}\] finished: {len(files) + 2} objects", r.stdout), r.stdout
    shown = json.loads(ok(cli, ep, "bucket", "props", "show", uri, "mirror", "--json").stdout)
    assert shown["enabled"] is True and shown["copies"] == 2
    table = ok(cli, ep, "bucket", "props", "show", uri, "mirror").stdout
    assert re.search(r"^mirror\.copies\s+2$", table, re.M) and re.search(r"^mirror\.enabled\s+true$", table, re.M)
    r = fails(cli, ep, "bucket", "props", "set", uri, "mirror.copies")
    assert "KEY=VALUE" in one_line(r.stderr)
    r = fails(cli, ep, "bucket", "props", "set", uri, "mirror.no_such_field=1")
    assert one_line(r.stderr).startswith("ais: ") and "status 4" in r.stderr

    # Object rm: gone from the listing; removing it again is the node's 404.
    r = ok(cli, ep, "object", "rm", f"{uri}/top.txt", f"{uri}/empty")
    assert f'deleted "{uri}/top.txt"' in r.stdout
    names = listing(cli, ep, uri)
    assert "top.txt" not in names and "empty" not in names and "a/one.bin" in names
    r = fails(cli, ep, "object", "rm", f"{uri}/top.txt")
    line = one_line(r.stderr)
    assert "404" in line and "exist" in line and f"{uri}/top.txt" in line, line
    r = fails(cli, ep, "object", "rm", f"{uri}/top.txt", f"{uri}/a/one.bin")
    assert "1 of 2 objects not removed" in r.stderr and f'deleted "{uri}/a/one.bin"' in r.stdout

    # Bucket rm: refused without confirmation, done with -y.
    r = fails(cli, ep, "bucket", "rm", uri)
    assert "--yes" in one_line(r.stderr)
    assert uri in ok(cli, ep, "ls").stdout.split()
    r = ok(cli, ep, "bucket", "rm", uri, "-y")
    assert f'"{uri}" destroyed' in r.stdout
    assert uri not in ok(cli, ep, "ls").stdout.split()
    r = fails(cli, ep, "ls", uri)
    line = one_line(r.stderr)
    assert f'bucket "{uri}" does not exist' in line and "404" in line, line


def read_pty(master, sink):
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            return
        if not b:
            return
        sink.append(b)


def test_job_wait_progress_and_abort(cli, node, tmp_path):
    """A resilver paced by rebalance.max_rate (set through `ais config cluster`) after a
    mountpath attach: `ais job wait` shows its counters growing and exits 0; the resilver of
    the detach, stopped with `ais job stop`, makes `ais job wait` exit 1."""
    ep = node.endpoint
    r = ok(cli, ep, "config", "cluster", "rebalance.max_rate=8")
    assert '"rebalance.max_rate" set to: "8"' in r.stdout
    assert re.search(r"^rebalance\.max_rate\s+8$", ok(cli, ep, "config", "cluster", "rebalance.max_rate").stdout, re.M)
    tid = next(iter(smap(node)["tmap"]))
    node_cfg = ok(cli, ep, "config", "node", tid, "rebalance.max_rate").stdout
    assert re.search(r"^rebalance\.max_rate\s+8$", node_cfg, re.M), node_cfg

    # The cluster as `ais cluster show` sees it.
    shown = ok(cli, ep, "cluster", "show").stdout
    assert re.search(rf"^{tid}\s+target\s+http://127\.0\.0\.1:{node.port}\s+online$", shown, re.M), shown
    assert re.search(r"\bproxy\b.*online, primary$", shown, re.M), shown
    assert "Proxies: 1, Targets: 1" in shown

    src = tmp_path / "many"
    src.mkdir()
    for i in range(90):
        (src / f"obj-{i:03}").write_bytes(f"object {i}\n".encode() * 10)
    ok(cli, ep, "bucket", "create", "ais://jobs")
    ok(cli, ep, "put", "-r", str(src), "ais://jobs")

    mps = ok(cli, ep, "storage", "mountpath", "show").stdout
    for m in node.mountpaths:
        assert re.search(rf"^{tid}\s+{re.escape(m)}\s+enabled$", mps, re.M), mps
    new_mp = os.path.realpath(node.data_dir / "mp-new")
    os.makedirs(new_mp)
    r = ok(cli, ep, "storage", "mountpath", "attach", tid, new_mp)
    assert f"mountpath {new_mp} attached" in r.stdout
    attach_job = job_id(r.stdout)
    r = ok(cli, ep, "job", "wait", attach_job, "--refresh", "200ms", "--timeout", "2m")
    m = re.search(rf"Job resilver\[{re.escape(attach_job)}\] finished: (\d+) objects", r.stdout)
    assert m and int(m.group(1)) > 0, r.stdout
    # Without a terminal the progress is plain lines with growing counters.
    counts = [int(c) for c in re.findall(rf"resilver\[{re.escape(attach_job)}\]: (\d+) objects", r.stderr)]
    assert len(counts) >= 2 and counts == sorted(counts) and counts[-1] == int(m.group(1)), r.stderr
    assert re.search(rf"^{tid}\s+{re.escape(new_mp)}\s+enabled$",
                     ok(cli, ep, "storage", "mountpath", "show", tid).stdout, re.M)

    # Detach: its resilver moves the objects back, paced; stop it while `ais job wait` (on a
    # terminal: the indicatif spinner) waits.
    r = ok(cli, ep, "storage", "mountpath", "detach", tid, new_mp)
    detach_job = job_id(r.stdout)
    master, slave = pty.openpty()
    env = {**os.environ, "AIS_ENDPOINT": ep}
    waiter = subprocess.Popen([str(cli), "job", "wait", detach_job, "--refresh", "200ms"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    reader = threading.Thread(target=read_pty, args=(master, chunks), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while f"resilver[{detach_job}]".encode() not in b"".join(chunks):
        assert time.monotonic() < deadline, b"".join(chunks)
        assert waiter.poll() is None, "job wait ended before the job was stopped"
        time.sleep(0.05)
    r = ok(cli, ep, "job", "stop", detach_job)
    assert f"Stopped job {detach_job}" in r.stdout
    out, _ = waiter.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(master)
    tty = b"".join(chunks).decode(errors="replace")
    assert waiter.returncode == 1, (out, tty)
    assert f"job resilver[{detach_job}] was aborted" in tty, tty
    assert "\x1b[" in tty, "no terminal drawing (indicatif) on a tty"

    listed = ok(cli, ep, "job", "ls", "--all").stdout
    assert re.search(rf"^{re.escape(attach_job)}\s+resilver\s+-\s+\d+\s+\S+\s+finished\s", listed, re.M), listed
    assert re.search(rf"^{re.escape(detach_job)}\s+resilver\s+-\s+\d+\s+\S+\s+aborted\s", listed, re.M), listed
    r = fails(cli, ep, "job", "wait", "no-such-job")
    assert "not found" in one_line(r.stderr)


def test_node_actions(cli, node):
    """add-remove-nodes reaches the node with AIS's actions: the only target cannot go into
    maintenance (409), an unknown node is 404, and shutdown stops the node."""
    ep = node.endpoint
    m = smap(node)
    tid = next(iter(m["tmap"]))
    pid = m["proxy_si"]["daemon_id"]
    r = fails(cli, ep, "cluster", "add-remove-nodes", "start-maintenance", tid)
    assert "last active target" in one_line(r.stderr) and "409" in r.stderr
    r = fails(cli, ep, "cluster", "add-remove-nodes", "stop-maintenance", "nosuchnode")
    assert "404" in one_line(r.stderr)
    r = fails(cli, ep, "cluster", "add-remove-nodes", "shutdown", pid)
    assert "--yes" in one_line(r.stderr)
    assert node.is_alive()
    ok(cli, ep, "cluster", "add-remove-nodes", "shutdown", pid, "-y")
    deadline = time.monotonic() + 30
    while node.is_alive():
        assert time.monotonic() < deadline, "the node did not stop after shutdown"
        time.sleep(0.05)
    r = fails(cli, ep, "cluster", "show")
    assert one_line(r.stderr) == f"ais: cannot reach {ep}: connection refused"


def test_show_performance(cli, module_node):
    ep = module_node.endpoint
    tids = sorted(smap(module_node)["tmap"])
    r = ok(cli, ep, "show", "performance", "--count", "1", "--refresh", "300ms")
    lines = r.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("TARGET"))
    assert lines[header].split()[:3] == ["TARGET", "GET/s", "GET"], lines
    rows = [line.split() for line in lines[header + 1:] if line.strip()]
    assert [row[0] for row in rows] == tids, lines
    assert all(len(row) == 11 for row in rows), rows
    # --count N: N reports.
    r = ok(cli, ep, "show", "performance", "--count", "2", "--refresh", "200ms", "-H")
    assert [line.split()[0] for line in r.stdout.splitlines() if line.strip()] == tids * 2


def test_completion_scripts(cli):
    r = subprocess.run(["bash", "-c", f"source <('{cli}' completion bash) && complete -p ais"], capture_output=True,
                       text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert re.search(r"complete .*-F _ais ais$", r.stdout.strip()), r.stdout
    r = ok(cli, "http://127.0.0.1:1", "completion", "zsh")
    assert r.stdout.startswith("#compdef ais")
    fails(cli, "http://127.0.0.1:1", "completion", "fish", rc=2)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_input(cli, tmp_path):
    ep = "http://127.0.0.1:1"
    r = fails(cli, ep, "bukcet", "ls", rc=2)
    assert "unrecognized subcommand 'bukcet'" in r.stderr and "'bucket'" in r.stderr and "Usage:" in r.stderr
    r = fails(cli, ep, "ls", "--prefx", "a", rc=2)
    assert "'--prefix'" in r.stderr
    r = fails(cli, ep, "object", "put", "only-one-arg", rc=2)
    assert "Usage:" in r.stderr
    r = fails(cli, ep, "job", "wait", "x", "--timeout", "soon", rc=2)
    assert "invalid duration" in r.stderr

    port = free_port()
    down = f"http://127.0.0.1:{port}"
    for args in (["ls"], ["ls", "ais://b"], ["cluster", "show"], ["show", "performance"], ["job", "ls"]):
        r = fails(cli, down, *args)
        assert one_line(r.stderr) == f"ais: cannot reach {down}: connection refused", (args, r.stderr)
        assert r.stdout == ""
    f = tmp_path / "f"
    f.write_bytes(b"x")
    r = fails(cli, down, "put", str(f), "ais://b")
    assert one_line(r.stderr) == f"ais: cannot reach {down}: connection refused"

    r = fails(cli, down, "bucket", "create", "ais://bad name")
    assert "invalid bucket URI" in one_line(r.stderr)
    r = fails(cli, "not-a-url", "ls")
    assert "AIS_ENDPOINT" in one_line(r.stderr)


def test_multi_node_cluster(cli, aisnode_binary, tmp_path):
    """Through the proxy of a 1-proxy, 2-target cluster: the Smap view, a target into and out of
    maintenance with the rebalance jobs waited on, per-node requests relayed by `Ais-Node-Id`
    (mountpaths, node config, performance), and the data still all there."""
    from clusterutil import Cluster

    c = Cluster(aisnode_binary, tmp_path / "cluster", proxies=1, targets=2, mountpaths=2)
    try:
        c.start()
        ep = c.primary.endpoint
        m = c.smap()
        tids = sorted(m["tmap"])
        assert len(tids) == 2
        shown = ok(cli, ep, "cluster", "show").stdout
        assert "Proxies: 1, Targets: 2" in shown
        for t in tids:
            assert re.search(rf"^{t}\s+target\s+http://\S+\s+online$", shown, re.M), shown

        src = tmp_path / "objs"
        src.mkdir()
        files = {f"o{i:02}": os.urandom(100 + i) for i in range(30)}
        for n, d in files.items():
            (src / n).write_bytes(d)
        ok(cli, ep, "bucket", "create", "ais://mn")
        ok(cli, ep, "put", "-r", str(src), "ais://mn")

        r = ok(cli, ep, "cluster", "add-remove-nodes", "start-maintenance", tids[1])
        assert f"Node {tids[1]} is in maintenance" in r.stdout
        reb = job_id(r.stdout)
        r = ok(cli, ep, "job", "wait", reb, "--timeout", "2m")
        assert re.search(rf"Job rebalance\[{re.escape(reb)}\] finished", r.stdout), r.stdout
        shown = ok(cli, ep, "cluster", "show").stdout
        assert re.search(rf"^{tids[1]}\s+target\s+\S+\s+maintenance$", shown, re.M), shown
        dst = tmp_path / "back"
        ok(cli, ep, "get", "ais://mn", str(dst), "--prefix", "")
        assert {n: (dst / n).read_bytes() for n in files} == files

        # Per-node requests through the proxy.
        t0 = c.target_by_id(tids[0])
        mps = ok(cli, ep, "storage", "mountpath", "show", tids[0]).stdout
        for mp in t0.mountpaths:
            assert re.search(rf"^{tids[0]}\s+{re.escape(mp)}\s+enabled$", mps, re.M), mps
        r = ok(cli, ep, "storage", "mountpath", "disable", tids[0], t0.mountpaths[1])
        assert f"mountpath {t0.mountpaths[1]} disabled" in r.stdout
        if "Started job" in r.stdout:
            ok(cli, ep, "job", "wait", job_id(r.stdout), "--timeout", "2m")
        assert re.search(rf"^{tids[0]}\s+{re.escape(t0.mountpaths[1])}\s+disabled$",
                         ok(cli, ep, "storage", "mountpath", "show").stdout, re.M)
        r = ok(cli, ep, "storage", "mountpath", "enable", tids[0], t0.mountpaths[1])
        if "Started job" in r.stdout:
            ok(cli, ep, "job", "wait", job_id(r.stdout), "--timeout", "2m")
        ok(cli, ep, "config", "node", tids[0], "rebalance.max_rate=3")
        assert re.search(r"^rebalance\.max_rate\s+3$", ok(cli, ep, "config", "node", tids[0], "rebalance").stdout, re.M)
        assert re.search(r"^rebalance\.max_rate\s+0$", ok(cli, ep, "config", "node", tids[1], "rebalance").stdout, re.M)
        perf = ok(cli, ep, "show", "performance", "--count", "1", "--refresh", "200ms", "-H").stdout
        assert [line.split()[0] for line in perf.splitlines() if line.strip()] == tids, perf
        assert "unavailable" not in perf

        r = ok(cli, ep, "cluster", "add-remove-nodes", "stop-maintenance", tids[1])
        reb = job_id(r.stdout)
        ok(cli, ep, "job", "wait", reb, "--timeout", "2m")
        shown = ok(cli, ep, "cluster", "show").stdout
        assert re.search(rf"^{tids[1]}\s+target\s+\S+\s+online$", shown, re.M), shown
        assert listing(cli, ep, "ais://mn") == {n: len(d) for n, d in files.items()}
    finally:
        c.close()
