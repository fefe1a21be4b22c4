"""The downloader (`/v1/download`, cluster::download) in AIS's wire format, on a 1-proxy/3-target
cluster and on one all-in-one node, fetching from an HTTP server this test runs on 127.0.0.1.

The SDK has no downloader calls, so requests are raw JSON as AIS's Go client (`api/download.go`)
sends them: `POST /v1/download` with `dload.Body` answers `{"id": ...}`; `GET` with the ID in
AIS's `AdminBody` JSON body answers `StatusResp`, without one the `JobInfos` list; `DELETE
/v1/download/abort` and `/remove` take the same body.

Checked: single, range (a brace template of 100 links) and multi (list and map) downloads land
byte-identical under AIS's names (the link's last path element, `subdir/` prepended); a 404, a
refused port and an https:// link are per-URL errors counted in `error_cnt` while the rest of
the job succeeds; a source that stalls past the job's `timeout` is a per-URL error and leaves
no object; request `headers` reach the source; aborting a job whose source stalls mid-body
(through `/v1/download/abort` or the SDK's generic `Job.abort`) stops it and leaves no object;
the SDK's `Job.wait` sees a finished job (kind `download`);
removed jobs are gone from the list; refused requests (bad type, missing bucket, bad template,
unknown fields, backend type) are 4xx/501 and start nothing.
"""

import http.server
import socket
import threading
import time

import pytest
import requests

from aisutil import KiB, det_bytes, make_client, obj_url
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(180)

TIMEOUT_S = 30
JOB_WAIT_S = 60
N_RANGE = 100


def data_of(path):
    return det_bytes(path, 1 * KiB + (sum(path.encode()) * 131) % (40 * KiB))


class Source:
    """An HTTP server on 127.0.0.1 serving deterministic files; `/slow/*` sends half of its body
    and then stalls until `release` is set (or the test ends)."""

    def __init__(self):
        self.release = threading.Event()
        self.slow_started = threading.Event()
        self.headers = {}  # path -> the request headers it was last fetched with
        src = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                src.headers[path] = dict(self.headers)
                if path.startswith("/missing/"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data_of(path)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path.startswith("/slow/"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    src.slow_started.set()
                    src.release.wait(timeout=JOB_WAIT_S)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def source():
    s = Source()
    yield s
    s.close()


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("dl"), proxies=1, targets=3, mountpaths=2,
                target_cores=2, keepalive_factor=8)
    c.start()
    yield c
    c.close()


@pytest.fixture(scope="module")
def ep(cluster):
    return cluster.primary.endpoint


def refused_port():
    """A port nothing listens on (bound then closed: connect is refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(ep, body):
    r = requests.post(f"{ep}/v1/download", json=body, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    assert job_id.startswith("dnl-")
    return job_id


def status(ep, job_id, only_active=False):
    r = requests.get(f"{ep}/v1/download", json={"id": job_id, "only_active_tasks": only_active},
                     timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    return r.json()


def wait_done(ep, job_id):
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        st = status(ep, job_id)
        if st["finished_time"] != "0001-01-01T00:00:00Z":
            return st
        time.sleep(0.1)
    pytest.fail(f"download {job_id} did not finish in {JOB_WAIT_S}s: {st}")


def get(ep, bucket, name):
    return requests.get(obj_url(ep, bucket, name), timeout=TIMEOUT_S)


def names_in(ep, bucket):
    return sorted(e.name for e in make_client(ep).bucket(bucket).list_all_objects())


def make_bucket(ep, name):
    make_client(ep).bucket(name).create()


def test_single_range_multi_are_byte_identical(ep, source):
    make_bucket(ep, "dl1")
    # single: named explicitly, and named from its link.
    a = start(ep, {"type": "single", "bucket": {"name": "dl1", "provider": "ais"},
                   "link": f"{source.base}/files/one.bin", "object_name": "dir/one", "timeout": "20s",
                   "headers": {"Authorization": ["Bearer t0k"]}})
    b = start(ep, {"type": "single", "bucket": {"name": "dl1"}, "link": f"{source.base}/files/two.bin?sig=x"})
    # range: 100 links over 3 targets, into a subdirectory.
    c = start(ep, {"type": "range", "bucket": {"name": "dl1"}, "subdir": "shards",
                   "template": f"{source.base}/r/shard-{{000..{N_RANGE - 1:03d}}}.tar",
                   "description": "range job", "limits": {"connections": 8}})
    # multi: a list of links and a map name -> link.
    d = start(ep, {"type": "multi", "bucket": {"name": "dl1"},
                   "objects": [f"{source.base}/m/x{i}.bin" for i in range(5)]})
    e = start(ep, {"type": "multi", "bucket": {"name": "dl1"},
                   "objects": {f"mapped/{i}": f"{source.base}/map/{i}.dat" for i in range(3)}})
    for job_id, total in [(a, 1), (b, 1), (c, N_RANGE), (d, 5), (e, 3)]:
        st = wait_done(ep, job_id)
        assert st["id"] == job_id
        assert (st["total"], st["finished_cnt"], st["error_cnt"], st["scheduled_cnt"]) == \
            (total, total, 0, total), st
        assert st["all_dispatched"] is True and st["aborted"] is False
        assert "download_errors" not in st
        assert len(st["finished_tasks"]) == total
        assert all(int(t["downloaded"]) > 0 for t in st["finished_tasks"])
    expected = {"dir/one": "/files/one.bin", "two.bin": "/files/two.bin"}
    expected.update({f"shards/shard-{i:03d}.tar": f"/r/shard-{i:03d}.tar" for i in range(N_RANGE)})
    expected.update({f"x{i}.bin": f"/m/x{i}.bin" for i in range(5)})
    expected.update({f"mapped/{i}": f"/map/{i}.dat" for i in range(3)})
    assert names_in(ep, "dl1") == sorted(expected)
    assert source.headers["/files/one.bin"].get("Authorization") == "Bearer t0k"
    assert "Authorization" not in source.headers["/files/two.bin"]
    for name, path in expected.items():
        r = get(ep, "dl1", name)
        assert r.status_code == 200, (name, r.text)
        assert r.content == data_of(path), name
    # The list (JobInfos): every job, filtered by description text; only_active drops finished.
    r = requests.get(f"{ep}/v1/download", json={"regex": "range job"}, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    assert [j["id"] for j in r.json()] == [c]
    r = requests.get(f"{ep}/v1/download", timeout=TIMEOUT_S)
    assert {a, b, c, d, e} <= {j["id"] for j in r.json()}
    r = requests.get(f"{ep}/v1/download", json={"only_active_tasks": True}, timeout=TIMEOUT_S)
    assert not {a, b, c, d, e} & {j["id"] for j in r.json()}
    # The generic job API sees it (kind `download`, on the proxy): the SDK's Job.wait/status.
    job = make_client(ep).job(job_id=c, job_kind="download")
    assert job.wait(timeout=JOB_WAIT_S, verbose=False).success
    assert job.status().end_time != 0
    # only_active status leaves out the finished tasks.
    assert "finished_tasks" not in status(ep, c, only_active=True)
    # remove: gone from the list and from status; the objects stay.
    r = requests.delete(f"{ep}/v1/download/remove", json={"id": c}, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    r = requests.get(f"{ep}/v1/download", json={"id": c}, timeout=TIMEOUT_S)
    assert r.status_code == 404, r.text
    assert c not in {j["id"] for j in requests.get(f"{ep}/v1/download", timeout=TIMEOUT_S).json()}
    assert get(ep, "dl1", "shards/shard-007.tar").status_code == 200


def test_per_url_errors_are_recorded_and_do_not_stop_the_job(ep, source):
    make_bucket(ep, "dl2")
    dead = refused_port()
    links = {
        "ok1": f"{source.base}/e/ok1",
        "gone": f"{source.base}/missing/gone",
        "refused": f"http://127.0.0.1:{dead}/x",
        "tls": f"https://127.0.0.1:{source.port}/e/tls",
        "ok2": f"{source.base}/e/ok2",
    }
    job_id = start(ep, {"type": "multi", "bucket": {"name": "dl2"}, "objects": links, "timeout": "10s"})
    st = wait_done(ep, job_id)
    assert (st["total"], st["finished_cnt"], st["error_cnt"]) == (5, 2, 3), st
    assert st["aborted"] is False
    errs = {e["name"]: e["error"] for e in st["download_errors"]}
    assert sorted(errs) == ["gone", "refused", "tls"]
    assert "404" in errs["gone"], errs
    assert str(dead) in errs["refused"], errs
    assert "TLS" in errs["tls"], errs
    assert names_in(ep, "dl2") == ["ok1", "ok2"]
    assert get(ep, "dl2", "ok2").content == data_of("/e/ok2")


def test_abort_stops_a_stalled_download_and_leaves_no_object(ep, source):
    make_bucket(ep, "dl3")
    source.release.clear()
    job_id = start(ep, {"type": "single", "bucket": {"name": "dl3"}, "link": f"{source.base}/slow/big.bin"})
    assert source.slow_started.wait(timeout=TIMEOUT_S)
    st = status(ep, job_id, only_active=True)
    assert st["finished_time"] == "0001-01-01T00:00:00Z" and st["aborted"] is False
    assert [t["name"] for t in st["current_tasks"]] == ["big.bin"]
    # A running job cannot be removed.
    r = requests.delete(f"{ep}/v1/download/remove", json={"id": job_id}, timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    active = requests.get(f"{ep}/v1/download", json={"only_active_tasks": True}, timeout=TIMEOUT_S).json()
    assert job_id in [j["id"] for j in active]
    r = requests.delete(f"{ep}/v1/download/abort", json={"id": job_id}, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    st = status(ep, job_id)
    assert st["aborted"] is True and st["finished_time"] != "0001-01-01T00:00:00Z"
    # The download in flight ends (an error, not a stored object) while the source still stalls.
    deadline = time.monotonic() + TIMEOUT_S
    while status(ep, job_id).get("current_tasks") and time.monotonic() < deadline:
        time.sleep(0.05)
    st = status(ep, job_id)
    assert "current_tasks" not in st and st["finished_cnt"] == 0, st
    assert not source.release.is_set()
    assert get(ep, "dl3", "big.bin").status_code == 404
    assert names_in(ep, "dl3") == []
    source.release.set()
    r = requests.delete(f"{ep}/v1/download/remove", json={"id": job_id}, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("body,status_code", [
    ({"type": "bogus", "bucket": {"name": "dl4"}, "link": "http://127.0.0.1:1/x"}, 400),
    ({"bucket": {"name": "dl4"}, "link": "http://127.0.0.1:1/x"}, 400),
    ({"type": "single", "bucket": {"name": "nosuch"}, "link": "http://127.0.0.1:1/x"}, 404),
    ({"type": "single", "bucket": {"name": ""}, "link": "http://127.0.0.1:1/x"}, 400),
    ({"type": "single", "bucket": {"name": "dl4"}}, 400),
    ({"type": "single", "bucket": {"name": "dl4"}, "link": "http://127.0.0.1:1/x", "extra": 1}, 400),
    ({"type": "single", "bucket": {"name": "dl4"}, "link": "http://127.0.0.1:1/x", "timeout": "soon"}, 400),
    ({"type": "range", "bucket": {"name": "dl4"}, "template": "http://127.0.0.1:1/s-{0..x}.tar"}, 400),
    ({"type": "range", "bucket": {"name": "dl4"}}, 400),
    ({"type": "multi", "bucket": {"name": "dl4"}, "objects": 7}, 400),
    ({"type": "backend", "bucket": {"name": "dl4", "provider": "aws"}}, 501),
    ({"type": "single", "bucket": {"name": "dl4"}, "link": "http://127.0.0.1:1/x",
      "limits": {"bytes_per_hour": 1000}}, 501),
])
def test_refused_requests_change_nothing(ep, body, status_code):
    make_client(ep).bucket("dl4").create(exist_ok=True)
    before = requests.get(f"{ep}/v1/download", timeout=TIMEOUT_S).json()
    r = requests.post(f"{ep}/v1/download", json=body, timeout=TIMEOUT_S)
    assert r.status_code == status_code, r.text
    assert requests.get(f"{ep}/v1/download", timeout=TIMEOUT_S).json() == before
    assert names_in(ep, "dl4") == []


def test_admin_requests_name_their_fault(ep):
    r = requests.get(f"{ep}/v1/download", json={"id": "dnl-nosuch"}, timeout=TIMEOUT_S)
    assert r.status_code == 404, r.text
    r = requests.delete(f"{ep}/v1/download/abort", json={}, timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    r = requests.get(f"{ep}/v1/download", json={"id": "dnl-x", "regex": "y"}, timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    # The query form works too.
    r = requests.get(f"{ep}/v1/download?id=dnl-nosuch", timeout=TIMEOUT_S)
    assert r.status_code == 404, r.text


def test_stop_through_the_job_api_aborts(ep, source):
    make_bucket(ep, "dl5")
    source.release.clear()
    source.slow_started.clear()
    job_id = start(ep, {"type": "single", "bucket": {"name": "dl5"}, "link": f"{source.base}/slow/j.bin"})
    assert source.slow_started.wait(timeout=TIMEOUT_S)
    make_client(ep).job(job_id=job_id, job_kind="download").abort()
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        st = status(ep, job_id)
        if st["aborted"] and "current_tasks" not in st:
            break
        time.sleep(0.05)
    assert st["aborted"] and "current_tasks" not in st, st
    assert names_in(ep, "dl5") == []
    source.release.set()


def test_a_stalled_source_times_out_per_url_and_leaves_no_object(ep, source):
    make_bucket(ep, "dl6")
    source.release.clear()
    job_id = start(ep, {"type": "multi", "bucket": {"name": "dl6"}, "timeout": "1s",
                        "objects": {"stalls": f"{source.base}/slow/t.bin", "fine": f"{source.base}/t/fine"}})
    st = wait_done(ep, job_id)
    assert (st["finished_cnt"], st["error_cnt"], st["aborted"]) == (1, 1, False), st
    assert [e["name"] for e in st["download_errors"]] == ["stalls"]
    assert "deadline" in st["download_errors"][0]["error"], st
    assert names_in(ep, "dl6") == ["fine"]
    source.release.set()


def test_all_in_one_node(module_node, source):
    ep = module_node.endpoint
    make_bucket(ep, "aio")
    job_id = start(ep, {"type": "range", "bucket": {"name": "aio"},
                        "template": f"{source.base}/aio/f-{{0..9}}.bin"})
    st = wait_done(ep, job_id)
    assert (st["finished_cnt"], st["error_cnt"]) == (10, 0), st
    for i in range(10):
        assert get(ep, "aio", f"f-{i}.bin").content == data_of(f"/aio/f-{i}.bin")
