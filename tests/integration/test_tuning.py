"""`tuning` against this machine: `check` on the host and on two loop-device mountpaths,
`measure` on a loop device, `propose` whose arguments start a real `aisnode` (checked through
`/v1/health`), `apply` that changes nothing without `--yes` (and, with `--yes`, only a stand-in
/proc and /sys tree), and `systemd-analyze verify` on the rendered units.

Loop devices are created here (truncate, losetup, mkfs.ext4, mount) and always removed in the
fixture's finalizers; the tests that need them are skipped, with the reason, when not root or
when losetup/mkfs.ext4 are missing. aisnode is started on 127.0.0.1 and stopped by its PID.

Environment:
    TUNING_BIN    path of the binary (default: <repo>/target/release/tuning).
    AISNODE_BIN   as in conftest.py.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

import conftest

pytestmark = pytest.mark.timeout(300)

RUN_TIMEOUT_S = 120
LOOP_IMAGE_BYTES = 256 << 20
HOST_SETTINGS = [
    "vm.dirty_ratio", "vm.dirty_background_ratio", "vm.dirty_expire_centisecs",
    "vm.dirty_writeback_centisecs", "vm.swappiness", "net.core.somaxconn",
    "net.core.netdev_max_backlog", "net.core.rmem_max", "net.core.wmem_max",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK",
    "transparent_hugepage", "cpu governor", "kernel.io_uring_disabled",
    "io_uring_setup probe", "NUMA nodes",
]
DISK_SETTINGS = ["rotational", "scheduler", "read_ahead_kb", "nr_requests"]


def tuning_binary_path():
    path = Path(os.environ.get("TUNING_BIN", "target/release/tuning"))
    return path if path.is_absolute() else conftest.REPO_ROOT / path


@pytest.fixture(scope="session")
def tuning_bin():
    path = tuning_binary_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"tuning binary not found at {path}; build it with `cargo build --release -p tuning` or set TUNING_BIN")
    return path


def run(argv, check=True):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if check and r.returncode != 0:
        raise AssertionError(f"{shlex.join(map(str, argv))}: exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


def tuning_json(tuning_bin, *args):
    return json.loads(run([tuning_bin, *args, "--json"]).stdout)


@pytest.fixture(scope="module")
def loop_mountpaths(request, tmp_path_factory):
    """Two ext4 file systems on loop devices (O_DIRECT backing), mounted noatime."""
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    base = tmp_path_factory.mktemp("loops")
    mountpaths = []
    for i in (1, 2):
        img = base / f"disk{i}.img"
        with open(img, "wb") as f:
            f.truncate(LOOP_IMAGE_BYTES)
        request.addfinalizer(lambda img=img: img.unlink(missing_ok=True))
        r = run(["losetup", "-f", "--show", "--direct-io=on", img], check=False)
        if r.returncode != 0:
            pytest.skip(f"losetup cannot attach a loop device: {r.stderr.strip()}")
        dev = r.stdout.strip()
        request.addfinalizer(lambda dev=dev: run(["losetup", "-d", dev], check=False))
        run(["mkfs.ext4", "-q", "-F", dev])
        mp = base / f"mp{i}"
        mp.mkdir()
        run(["mount", "-o", "noatime", dev, mp])
        request.addfinalizer(lambda mp=mp: run(["umount", mp], check=False))
        mountpaths.append((mp, Path(dev).name))
    return mountpaths


def by_setting(findings, scope_prefix=""):
    return {f["setting"]: f for f in findings if f["scope"].startswith(scope_prefix)}


def test_check_on_this_host_reports_every_setting_with_a_status(tuning_bin):
    findings = tuning_json(tuning_bin, "check")
    host = by_setting(findings, "host")
    assert sorted(HOST_SETTINGS) == sorted(s for s in host if s in HOST_SETTINGS), host.keys()
    for f in findings:
        assert f["status"] in ("ok", "warn", "unknown"), f
        if f["status"] == "unknown":
            assert f["note"], f"unknown without a reason: {f}"
        for x in f.get("fixes", []):
            assert f["status"] == "warn" and x["old"] != x["value"], f
    # What the tool says it found is what the kernel shows.
    assert host["vm.swappiness"]["found"] == Path("/proc/sys/vm/swappiness").read_text().strip()
    assert host["net.core.somaxconn"]["found"] == Path("/proc/sys/net/core/somaxconn").read_text().strip()
    table = run([tuning_bin, "check"]).stdout
    assert table.splitlines()[0].split()[:5] == ["SCOPE", "SETTING", "FOUND", "RECOMMENDED", "STATUS"]


def test_check_resolves_each_loop_mountpath_to_its_own_loop_disk(tuning_bin, loop_mountpaths):
    args = [a for mp, _ in loop_mountpaths for a in ("--mountpath", mp)]
    findings = tuning_json(tuning_bin, "check", *args)
    for mp, dev in loop_mountpaths:
        fs = by_setting(findings, f"mountpath {mp}")
        assert fs["file system"]["found"] == f"ext4 on {dev}", fs
        assert fs["file system"]["status"] == "ok", fs
        assert fs["mount options"]["status"] == "ok", "mounted noatime"
        disk = by_setting(findings, f"disk {dev}")
        assert sorted(disk) == sorted(DISK_SETTINGS), disk.keys()
        queue = Path(f"/sys/class/block/{dev}/queue")
        assert disk["read_ahead_kb"]["found"] == (queue / "read_ahead_kb").read_text().strip()
        assert disk["nr_requests"]["found"] == (queue / "nr_requests").read_text().strip()
        sched = (queue / "scheduler").read_text()
        assert f"[{disk['scheduler']['found']}]" in sched or sched.strip() == disk["scheduler"]["found"]
        assert str(mp.parent / f"disk{mp.name[-1]}.img") in disk["rotational"]["note"], "backing file named"


def test_check_without_readable_proc_and_sys_reports_unknown_with_reasons(tuning_bin, tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "sys").mkdir()
    findings = tuning_json(tuning_bin, "check", "--procfs-root", tmp_path / "proc", "--sysfs-root", tmp_path / "sys",
                           "--mountpath", tmp_path)
    host = by_setting(findings, "host")
    for key in ("vm.swappiness", "net.ipv4.tcp_rmem", "transparent_hugepage", "NUMA nodes", "io_uring_setup probe"):
        assert host[key]["status"] == "unknown", host[key]
        assert host[key]["note"], host[key]
    assert "not present" in host["vm.swappiness"]["note"]
    mp = by_setting(findings, f"mountpath {tmp_path}")
    assert mp["file system"]["status"] == "unknown" and "mountinfo" in mp["file system"]["note"], mp


def test_measure_on_a_loop_device_reports_every_cell_and_removes_its_file(tuning_bin, loop_mountpaths):
    mp, _ = loop_mountpaths[0]
    before = sorted(os.listdir(mp))
    cells = tuning_json(tuning_bin, "measure", "--mountpath", mp, "--size", "16M", "--seconds", "0.2")
    got = {(c["op"], c["bs_bytes"], c["qd"]) for c in cells}
    want = {(op, bs, qd) for op in ("read", "write") for bs in (4096, 65536, 1 << 20) for qd in (1, 16, 32)}
    assert got == want
    for c in cells:
        assert c["ios"] > 0 and c["mib_s"] > 0 and c["iops"] > 0, c
        assert abs(c["mib_s"] - c["iops"] * c["bs_bytes"] / (1 << 20)) < 0.01 * c["mib_s"] + 1e-6, c
    assert sorted(os.listdir(mp)) == before, "the temporary file is removed"
    # Too small a file is refused, and nothing is left behind either.
    r = run([tuning_bin, "measure", "--mountpath", mp, "--size", "1M", "--seconds", "0.1"], check=False)
    assert r.returncode != 0 and "--size" in r.stderr
    assert sorted(os.listdir(mp)) == before


def parse_env_args(env_text):
    line = [l for l in env_text.splitlines() if l.startswith("AISNODE_ARGS=")]
    assert len(line) == 1, env_text
    value = line[0].split("=", 1)[1]
    assert value.startswith('"') and value.endswith('"'), value
    return value[1:-1].split()


def test_proposal_starts_aisnode_and_it_answers_health(tuning_bin, aisnode_binary, loop_mountpaths, tmp_path):
    out = tmp_path / "proposal"
    cpus = len(os.sched_getaffinity(0))
    cores = min(cpus, len(loop_mountpaths))
    port = conftest.pick_port_range(1 + cores)
    args = [a for mp, _ in loop_mountpaths for a in ("--mountpath", mp)]
    p = tuning_json(tuning_bin, "propose", "--role", "all", "--host", "127.0.0.1", "--port", port,
                    "--data-dir", tmp_path / "data", "--aisnode-bin", aisnode_binary, "--out", out,
                    "--measure", "--size", "16M", "--seconds", "0.1", *args)
    assert p["cores"] == cores, p
    assert sorted(a["disk"] for a in p["assignment"]) == sorted(dev for _, dev in loop_mountpaths)
    assert set(p["queue_depth_per_disk"]) == {dev for _, dev in loop_mountpaths}, "measured"
    # aisnode gives the i-th --mountpath to core i % cores: the order realises the assignment.
    flags = [p["args"][i + 1] for i, a in enumerate(p["args"]) if a == "--mountpath"]
    assert [(m, i % p["cores"]) for i, m in enumerate(flags)] == [(a["mountpath"], a["core"]) for a in p["assignment"]]
    env_args = parse_env_args((out / "aisnode-all.env").read_text())
    assert env_args == p["args"], "the EnvironmentFile carries exactly the proposed arguments"
    assert json.loads((out / "proposal.json").read_text())["args"] == p["args"]

    log = open(tmp_path / "aisnode.log", "wb")
    proc = subprocess.Popen([str(aisnode_binary), *env_args], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + conftest.START_DEADLINE_S
        last = "no answer yet"
        while True:
            assert proc.poll() is None, f"aisnode exited {proc.returncode}:\n{(tmp_path / 'aisnode.log').read_text()[-4000:]}"
            try:
                r = requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=1.0)
                if r.status_code == 200:
                    break
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = type(e).__name__
            assert time.monotonic() < deadline, f"not healthy in time (last: {last})"
            time.sleep(conftest.POLL_INTERVAL_S)
        for k in range(cores):
            assert conftest._tcp_accepts(port + 1 + k), f"core {k} port"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=conftest.STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=conftest.STOP_DEADLINE_S)
        log.close()


def snapshot(findings):
    paths = {x["path"] for f in findings for x in f.get("fixes", [])}
    return {p: Path(p).read_text() for p in paths}


def test_apply_without_yes_changes_nothing(tuning_bin, loop_mountpaths):
    args = [a for mp, _ in loop_mountpaths for a in ("--mountpath", mp)]
    findings = tuning_json(tuning_bin, "check", *args)
    before = snapshot(findings)
    sysctls = {p: p.read_text() for p in Path("/proc/sys/vm").iterdir() if p.name.startswith(("dirty", "swap"))}
    r = run([tuning_bin, "apply", *args])
    if before:
        assert "would set" in r.stdout and "dry run: nothing changed" in r.stdout, r.stdout
        assert "undo:" in r.stdout
    else:
        assert "nothing to change" in r.stdout
    assert snapshot(findings) == before
    assert {p: p.read_text() for p in sysctls} == sysctls
    changes = tuning_json(tuning_bin, "apply", *args)
    assert all(not c["applied"] for c in changes)
    assert snapshot(findings) == before


def test_apply_yes_on_a_stand_in_tree_writes_and_prints_a_working_undo(tuning_bin, tmp_path):
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    (proc / "sys/vm").mkdir(parents=True)
    (proc / "sys/vm/swappiness").write_text("60\n")
    (proc / "sys/net/ipv4").mkdir(parents=True)
    (proc / "sys/net/ipv4/tcp_rmem").write_text("4096\t131072\t6291456\n")
    (sys / "kernel/mm/transparent_hugepage").mkdir(parents=True)
    (sys / "kernel/mm/transparent_hugepage/enabled").write_text("[always] madvise never\n")
    roots = ["--procfs-root", proc, "--sysfs-root", sys]
    changes = tuning_json(tuning_bin, "apply", "--yes", *roots)
    by = {c["setting"]: c for c in changes}
    assert set(by) == {"vm.swappiness", "net.ipv4.tcp_rmem", "transparent_hugepage"}, by
    assert all(c["applied"] for c in changes), changes
    assert (proc / "sys/vm/swappiness").read_text() == "10\n"
    assert (proc / "sys/net/ipv4/tcp_rmem").read_text() == f"4096 131072 {128 << 20}\n"
    assert (sys / "kernel/mm/transparent_hugepage/enabled").read_text() == "madvise\n"
    assert tuning_json(tuning_bin, "apply", *roots) == [], "nothing left to change"
    for c in changes:
        subprocess.run(["sh", "-c", c["undo"]], check=True, timeout=RUN_TIMEOUT_S)
    assert (proc / "sys/vm/swappiness").read_text().strip() == "60"
    assert (proc / "sys/net/ipv4/tcp_rmem").read_text().strip() == "4096 131072 6291456"
    assert (sys / "kernel/mm/transparent_hugepage/enabled").read_text().strip() == "always"


@pytest.mark.parametrize("role", ["all", "proxy", "target"])
def test_systemd_analyze_verify_passes_without_warnings(tuning_bin, aisnode_binary, tmp_path, role):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    out = tmp_path / "units"
    args = ["propose", "--role", role, "--out", out, "--aisnode-bin", aisnode_binary, "--cpus", "2"]
    if role != "proxy":
        args += ["--mountpath", tmp_path]
    if role != "all":
        args += ["--primary-url", "http://127.0.0.1:8080"]
    run([tuning_bin, *args])
    unit = (out / "aisnode@.service").read_text()
    assert f"ExecStart={aisnode_binary} $AISNODE_ARGS" in unit
    (out / f"aisnode@{role}.service").symlink_to("aisnode@.service")
    r = run(["systemd-analyze", "verify", out / f"aisnode@{role}.service"], check=False)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", \
        f"systemd-analyze verify: exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    if role != "proxy":
        assert (out / f"aisnode@{role}.service.d/mountpaths.conf").read_text().strip().endswith(f"RequiresMountsFor={tmp_path}")


def test_verify_would_catch_a_broken_unit(tmp_path):
    """The check above can fail: a unit with an unknown key makes verify print a warning."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / "broken.service").write_text("[Service]\nExecStart=/bin/true\nNoSuchKey=1\n")
    r = run(["systemd-analyze", "verify", tmp_path / "broken.service"], check=False)
    assert "NoSuchKey" in r.stdout + r.stderr


def test_install_units_without_yes_prints_commands_and_changes_nothing(tuning_bin, aisnode_binary, tmp_path):
    out = tmp_path / "units"
    run([tuning_bin, "propose", "--role", "all", "--mountpath", tmp_path, "--out", out, "--cpus", "2"])
    installed = Path("/etc/systemd/system/aisnode@.service")
    existed = installed.exists()
    r = run([tuning_bin, "install-units", "--from", out, "--aisnode-bin", aisnode_binary])
    for needle in ("useradd --system", "/usr/local/bin/aisnode", "/etc/ais/aisnode-all.env",
                   "systemctl daemon-reload", "systemctl enable --now aisnode@all", "dry run"):
        assert needle in r.stdout, (needle, r.stdout)
    assert installed.exists() == existed
