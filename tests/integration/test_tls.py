"""HTTPS on the public, intra-control and intra-data networks (issue 18, TLS part).

A 1-proxy/2-target cluster whose every listener speaks TLS (`net.http.use_https` with a CA made
here by the `openssl` CLI; client_auth_tls 3, so the nodes' own intra-cluster calls present and
verify certificates): the SDK (`Client("https://...", ca_cert=...)`), boto3 (`verify=ca`),
aisloader (`AIS_ENDPOINT=https://...`, `AIS_CLIENT_CA`) and the CLI put, get and list; a
client trusting another CA is refused; plain HTTP to an HTTPS port gets a clean 400; a new
certificate is picked up by `PUT /v1/cluster/load-x509` (the CLI's `ais tls load-certificate`)
without a restart, and by the nodes themselves when the files change. A single node with
client_auth_tls 4 refuses a client without a certificate.

The machine's environment may set REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, which `requests` lets
override a session's `verify` (and so the SDK's `ca_cert`): this module points them at the
test CA while nodes start (the harness polls with plain `requests`) and removes them around
the SDK calls that must prove `ca_cert` itself works.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import boto3
import botocore
import pytest
import requests

import conftest
import hrw
from clusterutil import Cluster
from conftest import AisNode, NodeError
from test_cli import cli_binary_path

pytestmark = pytest.mark.timeout(120)

T = 10  # seconds, per HTTP call
CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE", "SSL_CERT_FILE")


def openssl(d, *args):
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)


def make_pki(d):
    """CA `ca` (and an unrelated `ca2`); leaves for 127.0.0.1 signed by ca: node, node2 (the
    rotation), client; `other` signed by ca2."""
    d.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "ca2"):
        openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca in (("node", "ca"), ("node2", "ca"), ("client", "ca"), ("other", "ca2")):
        openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", "ext.cnf")
    # The files the nodes use; the rotation overwrites them.
    shutil.copy(d / "node.crt", d / "live.crt")
    shutil.copy(d / "node.key", d / "live.key")
    return d


def tls_config(pki, client_auth):
    return {"net": {"http": {
        "use_https": True,
        "server_crt": str(pki / "live.crt"),
        "server_key": str(pki / "live.key"),
        "client_ca_tls": str(pki / "ca.crt"),
        "client_auth_tls": client_auth,
    }}}


class CaEnv:
    """Point (or un-point) the CA variables of this process."""

    def __init__(self):
        self.saved = {k: os.environ.get(k) for k in CA_ENV}

    def use(self, ca):
        for k in CA_ENV:
            if ca is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(ca)

    def restore(self):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sdk_client(endpoint, ca_cert=None, client_cert=None):
    from aistore.sdk import Client
    from aistore.sdk.retry_config import RetryConfig
    from tenacity import Retrying, stop_after_attempt, wait_fixed
    from urllib3.util.retry import Retry

    retry = RetryConfig(
        http_retry=Retry(total=0, connect=0, read=0, status_forcelist=[], raise_on_status=False),
        network_retry=Retrying(stop=stop_after_attempt(1), wait=wait_fixed(0.1), reraise=True),
    )
    return Client(endpoint, ca_cert=ca_cert, client_cert=client_cert, timeout=(5.0, 30.0),
                  retry_config=retry)


def served_cert(port):
    """The leaf certificate (DER) a new handshake with 127.0.0.1:port gets."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=T) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(Path(pem_path).read_text())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_cluster(aisnode_binary, tmp_path_factory, pki):
    base = tmp_path_factory.mktemp("tlscluster")
    cfg = base / "ais.json"
    cfg.write_text(json.dumps(tls_config(pki, 3)))
    env = CaEnv()
    env.use(pki / "ca.crt")
    c = Cluster(aisnode_binary, base, proxies=1, targets=2, target_cores=2)
    for n in c.nodes:
        n.scheme = "https"
        ctl = conftest.pick_port_range(1)
        data = conftest.pick_port_range(1)
        n.extra_args += ["--config", str(cfg), "--intra-control", f"127.0.0.1:{ctl}",
                         "--intra-data", f"127.0.0.1:{data}"]
        n.nets = (n.port, ctl, data)
    for n in c.nodes[1:]:
        n.primary_url = c.primary.endpoint
    try:
        c.start()
        yield c
    finally:
        try:
            c.close()
        finally:
            env.restore()


def test_cluster_with_tls_on_all_three_networks_serves_sdk_boto3_cli_and_aisloader(tls_cluster, pki, tmp_path):
    c = tls_cluster
    ep = c.primary.endpoint
    ca = str(pki / "ca.crt")
    smap = requests.get(f"{ep}/v1/daemon?what=smap", timeout=T, verify=ca).json()
    for node in list(smap["pmap"].values()) + list(smap["tmap"].values()):
        for net in ("public_net", "intra_control_net", "intra_data_net"):
            assert node[net]["direct_url"].startswith("https://"), (net, node[net])
    # Each of a node's three listeners completes a handshake with the node's certificate.
    for n in c.nodes:
        for port in n.nets:
            assert served_cert(port) == der_of(pki / "node.crt"), (n.name, port)

    env = CaEnv()
    env.use(None)  # the SDK's own ca_cert, not the environment, must make this work
    try:
        sdk = sdk_client(ep, ca_cert=ca)
        b = sdk.bucket("tlsb").create(exist_ok=True)
        blobs = {f"o{i}": os.urandom(1000 + 300_000 * i) for i in range(4)}
        for name, data in blobs.items():
            b.object(name).get_writer().put_content(data)
        for name, data in blobs.items():
            assert b.object(name).get_reader().read_all() == data, name
        assert sorted(e.name for e in b.list_all_objects()) == sorted(blobs)
    finally:
        env.restore()

    s3 = boto3.client(
        "s3", endpoint_url=f"{ep}/s3", verify=ca, aws_access_key_id="k", aws_secret_access_key="s",
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      connect_timeout=5, read_timeout=30))
    s3.put_object(Bucket="tlsb", Key="from-boto3", Body=b"b" * 70_000)
    assert s3.get_object(Bucket="tlsb", Key="o2")["Body"].read() == blobs["o2"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tlsb")["Contents"]]
    assert sorted(keys) == sorted([*blobs, "from-boto3"])

    cli = cli_binary_path()
    cenv = {k: v for k, v in os.environ.items() if k not in CA_ENV}
    cenv.update(AIS_ENDPOINT=ep, AIS_CLIENT_CA=ca, HOME=str(tmp_path))
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(2_000_000))
    r = subprocess.run([str(cli), "put", str(src), "ais://tlsb/from-cli"], capture_output=True, text=True,
                       env=cenv, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(cli), "get", "ais://tlsb/from-cli", str(tmp_path / "back.bin")],
                       capture_output=True, text=True, env=cenv, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    r = subprocess.run([str(cli), "ls", "ais://tlsb"], capture_output=True, text=True, env=cenv, timeout=60)
    assert r.returncode == 0 and "from-cli" in r.stdout and "from-boto3" in r.stdout, (r.stdout, r.stderr)

    loader = Path(os.environ.get("AISLOADER_BIN", Path(c.primary.binary).parent / "aisloader"))
    out = tmp_path / "out.json"
    lenv = {**cenv, "AIS_SKIP_VERIFY_CRT": "false"}
    r = subprocess.run([str(loader), "-bucket=ais://tlsb", "-pctput=50", "-minsize=64KiB", "-maxsize=1MiB",
                        "-numworkers=4", "-maxputs=40", "-duration=20s", "-cleanup=false", "-quiet",
                        "-statsinterval=0", f"-json={out}"],
                       capture_output=True, text=True, env=lenv, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["put"]["ops"] == 40 and res["get"]["ops"] > 0 and res["errors_total"] == 0, res


def test_wrong_ca_and_plain_http_are_refused(tls_cluster, pki, tmp_path):
    ep = tls_cluster.primary.endpoint
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{ep}/v1/health", timeout=T, verify=str(pki / "ca2.crt"))
    env = CaEnv()
    env.use(None)
    try:
        with pytest.raises(Exception) as ei:
            sdk_client(ep, ca_cert=str(pki / "ca2.crt")).cluster().list_buckets()
        assert "CERTIFICATE_VERIFY_FAILED" in str(ei.value) or "certificate verify failed" in str(ei.value), ei.value
    finally:
        env.restore()
    cenv = {k: v for k, v in os.environ.items() if k not in CA_ENV}
    cenv.update(AIS_ENDPOINT=ep, AIS_CLIENT_CA=str(pki / "ca2.crt"), HOME=str(tmp_path))
    r = subprocess.run([str(cli_binary_path()), "ls"], capture_output=True, text=True, env=cenv, timeout=60)
    assert r.returncode != 0 and "UnknownIssuer" in r.stderr, (r.stdout, r.stderr)
    loader = Path(os.environ.get("AISLOADER_BIN", Path(tls_cluster.primary.binary).parent / "aisloader"))
    r = subprocess.run([str(loader), "-bucket=ais://tlsb", "-pctput=100", "-maxputs=5", "-duration=10s",
                        "-cleanup=false", "-quiet", "-statsinterval=0"],
                       capture_output=True, text=True, env={**cenv, "AIS_SKIP_VERIFY_CRT": "false"}, timeout=60)
    assert r.returncode != 0 and "UnknownIssuer" in (r.stdout + r.stderr), r.stdout + r.stderr
    # Plain HTTP to the HTTPS port: a plain-text 400 that says so, then the connection closes.
    plain = ep.replace("https://", "http://")
    r = requests.get(f"{plain}/v1/health", timeout=T)
    assert r.status_code == 400 and "HTTPS" in r.text, (r.status_code, r.text)
    core = tls_cluster.targets[0].core_endpoint(0).replace("https://", "http://")
    assert requests.get(f"{core}/v1/health", timeout=T).status_code == 400


def test_certificate_reload_without_restart(tls_cluster, pki, tmp_path):
    c = tls_cluster
    ep = c.primary.endpoint
    ca = str(pki / "ca.crt")
    pids = [n.pid for n in c.nodes]
    before = requests.get(f"{ep}/v1/daemon?what=tls_certificate", timeout=T, verify=ca).json()
    assert served_cert(c.targets[1].port) == der_of(pki / "node.crt")
    shutil.copy(pki / "node2.crt", pki / "live.crt")
    shutil.copy(pki / "node2.key", pki / "live.key")
    # AIS's `ais tls load-certificate`: PUT /v1/cluster/load-x509 (every node).
    cenv = {k: v for k, v in os.environ.items() if k not in CA_ENV}
    cenv.update(AIS_ENDPOINT=ep, AIS_CLIENT_CA=ca, HOME=str(tmp_path))
    r = subprocess.run([str(cli_binary_path()), "tls", "load-certificate"], capture_output=True, text=True,
                       env=cenv, timeout=60)
    assert r.returncode == 0, r.stderr
    for n in c.nodes:
        for port in (*n.nets, *n.core_ports):
            assert served_cert(port) == der_of(pki / "node2.crt"), (n.name, port)
    r = subprocess.run([str(cli_binary_path()), "tls", "show", c.targets[0].persisted_id()], capture_output=True,
                       text=True, env=cenv, timeout=60)
    assert r.returncode == 0, r.stderr
    after = json.loads(r.stdout)
    assert after["sha256_fingerprint"] != before["sha256_fingerprint"], (before, after)
    # One node only: reload it alone (it picks up the same files again) through the proxy.
    r = requests.put(f"{ep}/v1/cluster/load-x509/{c.targets[1].persisted_id()}", timeout=T, verify=ca)
    assert r.status_code == 200, r.text
    assert [n.pid for n in c.nodes] == pids, "no node restarted"
    # The cluster keeps working on the new certificate (intra-cluster calls included).
    r = requests.post(f"{ep}/v1/buckets/after-reload", timeout=T, verify=ca, json={"action": "create-bck"})
    assert r.status_code == 200, r.text
    r = requests.put(f"{ep}/v1/objects/after-reload/x", data=b"new cert", timeout=T, verify=ca)
    assert r.status_code == 200, r.text
    assert requests.get(f"{ep}/v1/objects/after-reload/x", timeout=T, verify=ca).content == b"new cert"

    # Without the API: the nodes notice changed files by themselves (checked every 2 s).
    shutil.copy(pki / "node.crt", pki / "live.crt")
    shutil.copy(pki / "node.key", pki / "live.key")
    deadline = time.monotonic() + 20
    pending = {(n.name, p) for n in c.nodes for p in n.nets}
    while pending:
        pending = {(name, p) for name, p in pending if served_cert(p) != der_of(pki / "node.crt")}
        assert time.monotonic() < deadline, f"still the old certificate on {sorted(pending)}"
        time.sleep(0.2)
    assert requests.get(f"{ep}/v1/objects/after-reload/x", timeout=T, verify=ca).content == b"new cert"


class MtlsNode(AisNode):
    """A single node (proxy and target) that requires client certificates (client_auth_tls 4)."""

    scheme = "https"

    def __init__(self, binary, base_dir, pki):
        super().__init__(binary, base_dir)
        self.pki = pki
        self.cfg = Path(base_dir) / "ais.json"
        self.cfg.write_text(json.dumps(tls_config(pki, 4)))

    def argv(self):
        return super().argv() + ["--config", str(self.cfg)]

    def wait_ready(self, deadline_s=conftest.START_DEADLINE_S):
        deadline = time.monotonic() + deadline_s
        cert = (str(self.pki / "client.crt"), str(self.pki / "client.key"))
        while True:
            if self.proc.poll() is not None:
                raise NodeError(f"aisnode exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                r = requests.get(f"{self.endpoint}/v1/health", timeout=1.0, verify=str(self.pki / "ca.crt"),
                                 cert=cert)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise NodeError(f"not ready within {deadline_s}s\n{self.log_tail()}")
            time.sleep(conftest.POLL_INTERVAL_S)


def test_required_client_certificate_refuses_a_client_without_one(aisnode_binary, tmp_path, pki):
    n = MtlsNode(aisnode_binary, tmp_path / "mtls", pki)
    env = CaEnv()
    env.use(None)
    try:
        n.start()
        ca = str(pki / "ca.crt")
        good = (str(pki / "client.crt"), str(pki / "client.key"))
        assert requests.get(f"{n.endpoint}/v1/health", timeout=T, verify=ca, cert=good).status_code == 200
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(f"{n.endpoint}/v1/health", timeout=T, verify=ca)
        # A certificate from another CA is refused as well.
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(f"{n.endpoint}/v1/health", timeout=T, verify=ca,
                         cert=(str(pki / "other.crt"), str(pki / "other.key")))
        sdk = sdk_client(n.endpoint, ca_cert=ca, client_cert=good)
        sdk.bucket("m").create()
        sdk.bucket("m").object("x").get_writer().put_content(b"mutual")
        assert sdk.bucket("m").object("x").get_reader().read_all() == b"mutual"
        with pytest.raises(Exception):
            sdk_client(n.endpoint, ca_cert=ca).cluster().list_buckets()
        # S3 on one keep-alive TLS connection to the public port of a 2-core node: objects
        # owned by the other core move the connection (its TLS session) there and back.
        s3 = boto3.client(
            "s3", endpoint_url=f"{n.endpoint}/s3", verify=ca, aws_access_key_id="k", aws_secret_access_key="s",
            region_name="us-east-1",
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          connect_timeout=5, read_timeout=30, client_cert=good,
                                          max_pool_connections=1))
        blobs = {f"k{i}": os.urandom(50_000 + i) for i in range(12)}
        for k, v in blobs.items():
            s3.put_object(Bucket="m", Key=k, Body=v)
        for k, v in blobs.items():
            assert s3.get_object(Bucket="m", Key=k)["Body"].read() == v, k
        # Both cores own some of these objects, so whichever core accepted the connection,
        # it was handed off (session and all) at least once.
        owners = {n.mountpath_core(n.mountpaths.index(hrw.choose_mountpath(n.mountpaths, "m", k)))
                  for k in blobs}
        assert owners == {0, 1}, owners
    finally:
        env.restore()
        n.close()


def test_cluster_requiring_client_certificates_runs_on_the_nodes_own(aisnode_binary, tmp_path, pki, monkeypatch):
    """client_auth_tls 4 on every network: the nodes' joins, keepalives, metasync and object
    redirects pass only because each node shows its own certificate to its peers."""
    good = (str(pki / "client.crt"), str(pki / "client.key"))
    ca = str(pki / "ca.crt")
    orig = requests.sessions.Session.request

    def with_cert(self, method, url, **kw):  # the harness's own polling needs a client certificate
        kw.setdefault("cert", good)
        return orig(self, method, url, **kw)

    monkeypatch.setattr(requests.sessions.Session, "request", with_cert)
    cfg = tmp_path / "ais.json"
    cfg.write_text(json.dumps(tls_config(pki, 4)))
    env = CaEnv()
    env.use(pki / "ca.crt")
    c = Cluster(aisnode_binary, tmp_path / "c", proxies=1, targets=2, target_cores=2)
    for n in c.nodes:
        n.scheme = "https"
        n.extra_args += ["--config", str(cfg)]
    for n in c.nodes[1:]:
        n.primary_url = c.primary.endpoint
    try:
        c.start()
        ep = c.primary.endpoint
        smap = requests.get(f"{ep}/v1/daemon?what=smap", timeout=T, verify=ca).json()
        assert len(smap["tmap"]) == 2 and len(smap["pmap"]) == 1
        r = requests.post(f"{ep}/v1/buckets/m", json={"action": "create-bck"}, timeout=T, verify=ca)
        assert r.status_code == 200, r.text
        for i in range(6):
            r = requests.put(f"{ep}/v1/objects/m/o{i}", data=b"x" * (1000 * i), timeout=T, verify=ca)
            assert r.status_code == 200, r.text
        for i in range(6):
            assert requests.get(f"{ep}/v1/objects/m/o{i}", timeout=T, verify=ca).content == b"x" * (1000 * i)
        with pytest.raises(requests.exceptions.RequestException):
            orig(requests.Session(), "GET", f"{ep}/v1/health", timeout=T, verify=ca)
    finally:
        try:
            c.close()
        finally:
            env.restore()
