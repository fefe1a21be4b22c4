"""Client authentication with AIS AuthN tokens (issue 18, first part): HS256 tokens signed with
the secret every node gets in AIS_AUTHN_SECRET_KEY, enabled with `auth.client_auth_required`
by an admin. Then every client request needs a token whose permissions (AIS's access bits, per
cluster and per bucket) cover it: 401 without a valid one (none, malformed, another key,
expired, `alg` none, revoked), 403 without the permission, and a refused request changes
nothing. Checked with the SDK (`Client(token=...)`), raw HTTP and boto3 (token in
X-Amz-Security-Token), on one node and in a 1-proxy/2-target cluster whose nodes keep talking
to each other with their own tokens.

Tokens are made here as AIS's AuthN makes them (claims `sub`, `exp`, `admin`, `clusters`,
`buckets`; docs/authn.md in NVIDIA/aistore), so these tests need no AuthN service; test_authn.py
runs with ours.
"""

import base64
import hashlib
import hmac
import json
import subprocess
import time

import pytest
import requests
from aistore.sdk.errors import AISError

from aisutil import make_client, obj_url
from clusterutil import Cluster
from conftest import AisNode, NodeError, _start_or_fail

pytestmark = pytest.mark.timeout(300)

T = 30
SECRET = "test-secret-of-this-cluster"
GET, OBJ_HEAD, PUT, OBJ_DELETE, BCK_HEAD, OBJ_LIST = 1, 2, 4, 16, 256, 512
LIST_BUCKETS, SHOW_CLUSTER, CREATE_BUCKET = 4096, 8192, 16384
RO = GET | OBJ_HEAD | BCK_HEAD | OBJ_LIST
RW = RO | PUT | 8 | OBJ_DELETE | 32


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(sub="alice", admin=False, clusters=None, buckets=None, ttl=600, key=SECRET, alg="HS256"):
    claims = {"clusters": clusters, "admin": admin, "sub": sub, "exp": int(time.time()) + ttl,
              "iat": int(time.time())}
    if buckets:
        claims["buckets"] = buckets
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


def cluster_uuid(ep, tok):
    r = requests.get(f"{ep}/v1/daemon?what=smap", headers=bearer(tok), timeout=T)
    assert r.status_code == 200, r.text
    return r.json()["uuid"]


def set_auth(ep, on, headers=None):
    return requests.put(f"{ep}/v1/cluster/set-config?auth.client_auth_required={str(on).lower()}",
                        headers=headers or {}, timeout=T)


def config_auth(ep, headers):
    r = requests.get(f"{ep}/v1/cluster?what=config", headers=headers, timeout=T)
    assert r.status_code == 200, r.text
    return r.json()["auth"]["client_auth_required"]


def refused(r, status, words=""):
    __tracebackhide__ = True
    msg = r.text or r.headers.get("Hdr-Error", "")
    assert r.status_code == status, (r.status_code, msg)
    assert words in msg, msg


@pytest.fixture
def keyed_node(aisnode_binary, tmp_path):
    n = AisNode(aisnode_binary, tmp_path / "n", num_mountpaths=1)
    n.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET}
    _start_or_fail(n)
    yield n
    n.close()


def test_enabling_needs_a_key_and_an_admin_token(node, keyed_node):
    # A node started without the secret cannot turn authentication on.
    r = set_auth(node.endpoint, True, bearer(token(admin=True)))
    refused(r, 400, "AIS_AUTHN_SECRET_KEY")
    ep = keyed_node.endpoint
    admin = bearer(token(admin=True))
    # Without a token, with a user's token, with one signed by another key: refused, still off.
    refused(set_auth(ep, True), 401, "token required")
    refused(set_auth(ep, True, bearer(token(clusters=[{"id": "", "perm": str(RW)}]))), 403)
    refused(set_auth(ep, True, bearer(token(admin=True, key="other"))), 401, "signature")
    assert config_auth(ep, {}) is False
    assert set_auth(ep, True, admin).status_code == 200
    assert config_auth(ep, admin) is True
    # Per-node overrides cannot turn it off.
    r = requests.put(f"{ep}/v1/daemon/set-config?auth.client_auth_required=false", headers=admin, timeout=T)
    assert r.status_code in (400, 501), r.text
    assert config_auth(ep, admin) is True
    assert set_auth(ep, False, admin).status_code == 200
    assert requests.get(f"{ep}/v1/buckets", timeout=T).status_code == 200


def test_tokens_and_permissions_on_one_node(keyed_node):
    ep = keyed_node.endpoint
    admin_t = token(admin=True)
    c = make_client(ep, token=admin_t)
    c.bucket("ab").create()
    c.bucket("ab").object("o").get_writer().put_content(b"hello")
    c.bucket("other").create()
    assert set_auth(ep, True, bearer(admin_t)).status_code == 200
    uuid = cluster_uuid(ep, admin_t)
    url = obj_url(ep, "ab", "o")

    # 401: no token, malformed, another key, expired, alg none.
    refused(requests.get(url, timeout=T), 401, "token required")
    refused(requests.get(f"{ep}/v1/buckets", timeout=T), 401, "token required")
    # A forged redirect marker does not make a request to the public port a node's own.
    refused(requests.get(f"{ep}/v1/buckets?pid=x&utm=1", timeout=T), 401, "token required")
    refused(requests.put(url + "&pid=x&utm=1", data=b"evil", allow_redirects=False, timeout=T), 401)
    for bad in ["x.y.z", token(key="wrong"), token(ttl=-5), token(alg="none"), "Basic abc"]:
        h = {"Authorization": bad} if bad.startswith("Basic") else bearer(bad)
        refused(requests.get(url, headers=h, timeout=T), 401)
        refused(requests.put(url, data=b"evil", headers=h, timeout=T), 401)
    # HEAD carries the error in Hdr-Error.
    r = requests.head(url, timeout=T)
    assert r.status_code == 401 and "token required" in r.headers.get("Hdr-Error", "")

    # A read-only user of this cluster: reads pass, writes and bucket creation are 403.
    ro_t = token(clusters=[{"id": uuid, "perm": str(RO | LIST_BUCKETS | SHOW_CLUSTER)}])
    ro = make_client(ep, token=ro_t)
    assert ro.bucket("ab").object("o").get_reader().read_all() == b"hello"
    assert [e.name for e in ro.bucket("ab").list_all_objects()] == ["o"]
    assert "ab" in [b.name for b in ro.cluster().list_buckets()]
    with pytest.raises(AISError) as e:
        ro.bucket("ab").object("o").get_writer().put_content(b"overwrite")
    assert e.value.status_code == 403
    refused(requests.delete(url, headers=bearer(ro_t), timeout=T), 403, "insufficient permissions")
    refused(requests.post(f"{ep}/v1/buckets/newb", json={"action": "create-bck"}, headers=bearer(ro_t),
                          timeout=T), 403, "CREATE-BUCKET")
    refused(requests.delete(f"{ep}/v1/buckets/ab", json={"action": "destroy-bck"}, headers=bearer(ro_t),
                            timeout=T), 403)
    refused(requests.put(f"{ep}/v1/cluster/set-config?auth.client_auth_required=false",
                         headers=bearer(ro_t), timeout=T), 403)
    # A token for another cluster grants nothing here.
    other = token(clusters=[{"id": "not-this-one", "perm": str(RW)}])
    refused(requests.get(url, headers=bearer(other), timeout=T), 403)

    # A bucket-scoped writer: PUT into its bucket, not into another.
    bw_t = token(clusters=[{"id": uuid, "perm": str(LIST_BUCKETS)}],
                 buckets=[{"bck": {"name": "ab", "provider": "ais", "namespace": {"uuid": uuid, "name": ""}},
                           "perm": str(RW)}])
    bw = make_client(ep, token=bw_t)
    bw.bucket("ab").object("w").get_writer().put_content(b"written")
    with pytest.raises(AISError) as e:
        bw.bucket("other").object("w").get_writer().put_content(b"no")
    assert e.value.status_code == 403

    # Nothing refused changed anything.
    assert sorted(e.name for e in c.bucket("ab").list_all_objects()) == ["o", "w"]
    assert c.bucket("ab").object("o").get_reader().read_all() == b"hello"
    assert [e.name for e in c.bucket("other").list_all_objects()] == []
    assert "newb" not in [b.name for b in c.cluster().list_buckets()]

    # Validation and revocation (`/v1/tokens`, as AuthN calls it): only an admin revokes.
    assert requests.post(f"{ep}/v1/tokens", json={}, headers=bearer(ro_t), timeout=T).status_code == 200
    refused(requests.post(f"{ep}/v1/tokens", json={}, headers=bearer(token(key="x")), timeout=T), 401)
    refused(requests.delete(f"{ep}/v1/tokens", json={"token": ro_t}, headers=bearer(ro_t), timeout=T), 403)
    r = requests.delete(f"{ep}/v1/tokens", json={"tokens": [ro_t], "version": "0"}, headers=bearer(admin_t),
                        timeout=T)
    assert r.status_code == 200, r.text
    refused(requests.get(url, headers=bearer(ro_t), timeout=T), 401, "revoked")
    assert c.bucket("ab").object("o").get_reader().read_all() == b"hello"

    # Health stays open (probes); turning authentication off opens the API again.
    assert requests.get(f"{ep}/v1/health", timeout=T).status_code == 200
    assert set_auth(ep, False, bearer(admin_t)).status_code == 200
    assert requests.get(url, allow_redirects=True, timeout=T).status_code == 200


def test_s3_with_a_token(keyed_node):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    ep = keyed_node.endpoint
    admin_t = token(admin=True)
    assert set_auth(ep, True, bearer(admin_t)).status_code == 200
    uuid = cluster_uuid(ep, admin_t)

    def s3(tok=None):
        return boto3.client("s3", endpoint_url=f"{ep}/s3", aws_access_key_id="k", aws_secret_access_key="s",
                            aws_session_token=tok, region_name="us-east-1",
                            config=Config(retries={"total_max_attempts": 1}))

    s3(admin_t).create_bucket(Bucket="s3tok")
    s3(admin_t).put_object(Bucket="s3tok", Key="k", Body=b"v")
    ro_t = token(clusters=[{"id": uuid, "perm": str(RO | LIST_BUCKETS)}])
    assert s3(ro_t).get_object(Bucket="s3tok", Key="k")["Body"].read() == b"v"
    for tok in (None, ro_t, token(key="wrong")):
        with pytest.raises(ClientError) as e:
            s3(tok).put_object(Bucket="s3tok", Key="k", Body=b"overwritten")
        assert e.value.response["Error"]["Code"] == "AccessDenied", e.value.response
    with pytest.raises(ClientError):
        s3().list_buckets()
    assert s3(admin_t).get_object(Bucket="s3tok", Key="k")["Body"].read() == b"v"


def test_s3_users_with_their_own_access_keys(aisnode_binary, tmp_path):
    """`--s3-keys`: several S3 access keys, each mapped to an AuthN user's token. A request
    signed with a key (header or presigned) gets that user's permissions once the signature is
    verified; a wrong secret, an expired presigned URL or a revoked user's key is refused."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    alice_t = token(sub="alice", clusters=[{"id": "", "perm": str(RW | LIST_BUCKETS)}])
    bob_t = token(sub="bob", clusters=[{"id": "", "perm": str(RO)}])
    keys = tmp_path / "s3keys.json"
    keys.write_text(json.dumps([
        {"access_key": "ALICEKEY", "secret_key": "alice-secret", "token": alice_t},
        {"access_key": "BOBKEY", "secret_key": "bob-secret", "token": bob_t},
    ]))
    n = AisNode(aisnode_binary, tmp_path / "n", num_mountpaths=1)
    n.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET, "AIS_S3_KEYS_FILE": str(keys)}
    _start_or_fail(n)
    try:
        ep = n.endpoint
        admin_t = token(admin=True)
        assert set_auth(ep, True, bearer(admin_t)).status_code == 200
        make_client(ep, token=admin_t).bucket("users").create()

        def s3(ak, sk):
            return boto3.client("s3", endpoint_url=f"{ep}/s3", aws_access_key_id=ak,
                                aws_secret_access_key=sk, region_name="us-east-1",
                                config=Config(retries={"total_max_attempts": 1}, signature_version="s3v4"))

        alice, bob = s3("ALICEKEY", "alice-secret"), s3("BOBKEY", "bob-secret")
        alice.put_object(Bucket="users", Key="a", Body=b"from alice")
        assert "users" in [b["Name"] for b in alice.list_buckets()["Buckets"]]
        assert bob.get_object(Bucket="users", Key="a")["Body"].read() == b"from alice"

        def denied(fn, code="AccessDenied"):
            with pytest.raises(ClientError) as e:
                fn()
            assert e.value.response["Error"]["Code"] == code, e.value.response

        denied(lambda: bob.put_object(Bucket="users", Key="a", Body=b"from bob"))
        denied(lambda: bob.delete_object(Bucket="users", Key="a"))
        denied(lambda: bob.list_buckets())
        denied(lambda: s3("ALICEKEY", "not-her-secret").put_object(Bucket="users", Key="a", Body=b"x"),
               "SignatureDoesNotMatch")
        denied(lambda: s3("EVEKEY", "eve").get_object(Bucket="users", Key="a"))
        # Presigned URLs carry the user's permissions, until they expire.
        url = alice.generate_presigned_url("get_object", Params={"Bucket": "users", "Key": "a"},
                                           ExpiresIn=60)
        r = requests.get(url, timeout=T)
        assert r.status_code == 200 and r.content == b"from alice", r.text
        url = alice.generate_presigned_url("get_object", Params={"Bucket": "users", "Key": "a"},
                                           ExpiresIn=1)
        time.sleep(2.1)
        r = requests.get(url, timeout=T)
        assert r.status_code == 403 and "AccessDenied" in r.text, r.text
        put_url = bob.generate_presigned_url("put_object", Params={"Bucket": "users", "Key": "a"},
                                             ExpiresIn=60)
        r = requests.put(put_url, data=b"via bob's URL", timeout=T)
        assert r.status_code == 403 and "AccessDenied" in r.text, r.text
        # Revoking the user's token takes its keys' rights away.
        r = requests.delete(f"{ep}/v1/tokens", json={"token": alice_t}, headers=bearer(admin_t), timeout=T)
        assert r.status_code == 200, r.text
        denied(lambda: alice.get_object(Bucket="users", Key="a"))
        assert bob.get_object(Bucket="users", Key="a")["Body"].read() == b"from alice"
    finally:
        n.close()


def rs256_token(key_pem, tmp_path, **kw):
    """A token as AIS's AuthN signs it by default (RS256), signed with openssl."""
    claims = {"clusters": kw.get("clusters"), "admin": kw.get("admin", False), "sub": kw.get("sub", "rsa-user"),
              "exp": int(time.time()) + kw.get("ttl", 600), "iat": int(time.time())}
    signing = f"{b64(json.dumps({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'}).encode())}." \
              f"{b64(json.dumps(claims).encode())}"
    (tmp_path / "signing").write_text(signing)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_pem), str(tmp_path / "signing")],
                         capture_output=True, check=True, timeout=T).stdout
    return f"{signing}.{b64(sig)}"


def test_rs256_tokens_with_the_authn_public_key(aisnode_binary, tmp_path):
    """AIS's AuthN signs with RSA by default: nodes given AIS_AUTHN_PUBLIC_KEY verify RS256 tokens
    (and refuse HS256 ones, whatever key signed them), and sign their own calls with
    AIS_INTRA_CLUSTER_KEY, without which authentication cannot be turned on."""
    key = tmp_path / "authn.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(key)], check=True, capture_output=True, timeout=T)
    pub = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], check=True, capture_output=True,
                         timeout=T).stdout.decode()
    admin_t = rs256_token(key, tmp_path, admin=True, sub="admin")
    # Without a key of its own the cluster could not check its nodes' calls.
    n = AisNode(aisnode_binary, tmp_path / "lone", num_mountpaths=1)
    n.extra_env = {"AIS_AUTHN_PUBLIC_KEY": pub}
    _start_or_fail(n)
    try:
        refused(set_auth(n.endpoint, True, bearer(admin_t)), 400, "AIS_INTRA_CLUSTER_KEY")
    finally:
        n.close()
    bad = AisNode(aisnode_binary, tmp_path / "bad", num_mountpaths=1)
    bad.extra_env = {"AIS_AUTHN_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----"}
    with pytest.raises(NodeError):
        bad.start()
    bad.close()
    assert "AIS_AUTHN_PUBLIC_KEY" in bad.log_path.read_text()

    c = Cluster(aisnode_binary, tmp_path / "c", proxies=1, targets=1, mountpaths=1, target_cores=2)
    for node in c.nodes:
        node.extra_env = {"AIS_AUTHN_PUBLIC_KEY": pub, "AIS_INTRA_CLUSTER_KEY": "intra-only-secret"}
        node.auth_headers = bearer(admin_t)
    try:
        c.start()
        ep = c.primary.endpoint
        assert set_auth(ep, True, bearer(admin_t)).status_code == 200
        uuid = cluster_uuid(ep, admin_t)
        admin = make_client(ep, token=admin_t)
        admin.bucket("rsa").create()
        admin.bucket("rsa").object("o").get_writer().put_content(b"signed with RSA")
        ro = rs256_token(key, tmp_path, clusters=[{"id": uuid, "perm": str(RO)}])
        assert make_client(ep, token=ro).bucket("rsa").object("o").get_reader().read_all() == b"signed with RSA"
        refused(requests.put(obj_url(ep, "rsa", "o"), data=b"x", headers=bearer(ro), timeout=T), 403)
        # HS256 tokens are refused, with the intra key or the public key's text as the secret.
        for k in ("intra-only-secret", pub):
            refused(requests.get(obj_url(ep, "rsa", "o"), headers=bearer(token(admin=True, key=k)),
                                 timeout=T), 401)
        refused(requests.get(obj_url(ep, "rsa", "o"), headers=bearer(rs256_token(key, tmp_path, admin=True, ttl=-5)),
                             timeout=T), 401, "expired")
        # The nodes keep talking (keepalives, metasync with their own HS256 tokens).
        time.sleep(2)
        assert len(c.primary.smap()["tmap"]) == 1
        r = requests.delete(f"{ep}/v1/tokens", json={"token": ro}, headers=bearer(admin_t), timeout=T)
        assert r.status_code == 200, r.text
        refused(requests.get(obj_url(ep, "rsa", "o"), headers=bearer(ro), timeout=T), 401, "revoked")
        assert admin.bucket("rsa").object("o").get_reader().read_all() == b"signed with RSA"
    finally:
        c.close()


def test_a_cluster_with_authentication(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, mountpaths=1, target_cores=2)
    for n in c.nodes:
        n.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET}
    try:
        c.start()
        ep = c.primary.endpoint
        admin_t = token(admin=True)
        assert set_auth(ep, True, bearer(admin_t)).status_code == 200
        uuid = cluster_uuid(ep, admin_t)
        admin = make_client(ep, token=admin_t)
        admin.bucket("cb").create()
        for i in range(20):
            admin.bucket("cb").object(f"o{i}").get_writer().put_content(f"data{i}".encode())
        assert len(admin.bucket("cb").list_all_objects()) == 20
        user = make_client(ep, token=token(clusters=[{"id": uuid, "perm": str(RO)}]))
        assert user.bucket("cb").object("o3").get_reader().read_all() == b"data3"
        with pytest.raises(AISError) as e:
            user.bucket("cb").object("o3").get_writer().put_content(b"x")
        assert e.value.status_code == 403
        refused(requests.get(obj_url(ep, "cb", "o1"), timeout=T), 401, "token required")
        # The nodes still talk to each other (keepalives, metasync with their own tokens): a
        # change of the cluster map reaches the targets.
        time.sleep(2)
        r = requests.get(f"{ep}/v1/cluster?what=smap", headers=bearer(admin_t), timeout=T)
        assert r.status_code == 200 and len(r.json()["tmap"]) == 2, r.text
        admin.bucket("cb2").create()
        admin.bucket("cb2").object("x").get_writer().put_content(b"y")
        assert admin.bucket("cb2").object("x").get_reader().read_all() == b"y"
        # A revocation at the proxy reaches every node.
        t = token(clusters=[{"id": uuid, "perm": str(RO)}], sub="bob")
        assert requests.get(obj_url(ep, "cb", "o1"), headers=bearer(t), timeout=T).status_code == 200
        r = requests.delete(f"{ep}/v1/tokens", json={"token": t}, headers=bearer(admin_t), timeout=T)
        assert r.status_code == 200, r.text
        refused(requests.get(obj_url(ep, "cb", "o1"), headers=bearer(t), timeout=T), 401, "revoked")
    finally:
        c.close()


def test_aisloader_and_cli_with_a_token(keyed_node, tmp_path):
    """aisloader's `-tokenfile` (AuthN's JSON file) and the CLI's AIS_AUTHN_TOKEN / token file:
    with the token their requests pass, without it they are refused."""
    import os
    import subprocess
    from pathlib import Path

    from test_cli import cli_binary_path

    ep = keyed_node.endpoint
    loader = Path(os.environ.get("AISLOADER_BIN", Path(keyed_node.binary).parent / "aisloader"))
    assert loader.is_file(), f"aisloader binary {loader} not found: cargo build --release, or set AISLOADER_BIN"
    cli = cli_binary_path()
    assert cli.is_file(), f"ais CLI not found at {cli}"
    admin_t = token(admin=True)
    make_client(ep, token=admin_t).bucket("lb").create()
    assert set_auth(ep, True, bearer(admin_t)).status_code == 200
    tok_file = tmp_path / "auth.token"
    tok_file.write_text(json.dumps({"token": admin_t}))
    port = ep.rsplit(":", 1)[1]

    def loader_run(*extra):
        argv = [str(loader), "-ip=127.0.0.1", f"-port={port}", "-bucket=ais://lb", "-pctput=100",
                "-minsize=1KiB", "-maxsize=1KiB", "-maxputs=20", "-numworkers=2", "-duration=20s",
                "-skiplist", "-cleanup=false", "-quiet", "-statsinterval=0", f"-json={tmp_path / 'out.json'}", *extra]
        (tmp_path / "out.json").unlink(missing_ok=True)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        out = json.loads((tmp_path / "out.json").read_text()) if (tmp_path / "out.json").exists() else None
        return r, out

    r, out = loader_run(f"-tokenfile={tok_file}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert out["put"]["ops"] == 20 and out["errors_total"] == 0, out
    r, out = loader_run()
    assert r.returncode != 0 or out["put"]["ops"] == 0, (r.stdout, out)

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIS_AUTHN")}
    env["AIS_ENDPOINT"] = ep
    env["HOME"] = str(tmp_path)  # no token file in the default place
    r = subprocess.run([str(cli), "ls", "ais://lb"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "401" in r.stderr, (r.stdout, r.stderr)
    r = subprocess.run([str(cli), "ls", "ais://lb"], capture_output=True, text=True,
                       env={**env, "AIS_AUTHN_TOKEN": admin_t}, timeout=60)
    assert r.returncode == 0 and r.stdout.count("\n") >= 20, (r.stdout, r.stderr)
    r = subprocess.run([str(cli), "ls", "ais://lb"], capture_output=True, text=True,
                       env={**env, "AIS_AUTHN_TOKEN_FILE": str(tok_file)}, timeout=60)
    assert r.returncode == 0, r.stderr


def test_targets_take_only_what_a_node_signed(aisnode_binary, tmp_path):
    """With authentication on, a target serves a redirect only with the proxy's signature on
    it (method, path, query, time), a forwarded request only with the forward signature, and
    anything else only with a token that grants it: a client that reaches a target's ports
    directly, forging `pid`/`utm` or not, is checked like one at the proxy. The intra-cluster
    endpoints take nodes only. Rebalance (transfers between targets with node tokens) still
    moves every object."""
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, mountpaths=1, target_cores=2)
    admin_t = token(admin=True)
    for n in c.nodes:
        n.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET}
        n.auth_headers = bearer(admin_t)
    try:
        c.start()
        ep = c.primary.endpoint
        assert set_auth(ep, True, bearer(admin_t)).status_code == 200
        uuid = cluster_uuid(ep, admin_t)
        admin = make_client(ep, token=admin_t)
        admin.bucket("sb").create()
        for i in range(30):
            admin.bucket("sb").object(f"o{i}").get_writer().put_content(f"data{i}".encode())
        ro = bearer(token(clusters=[{"id": uuid, "perm": str(RO)}]))

        def content(name):
            return admin.bucket("sb").object(name).get_reader().read_all()

        # A signed redirect is served without the token (clients drop it on another port).
        r = requests.get(obj_url(ep, "sb", "o1"), headers=ro, allow_redirects=False, timeout=T)
        assert r.status_code == 301, r.text
        loc = r.headers["Location"]
        assert "&sig=" in loc and "pid=" in loc and "utm=" in loc, loc
        r = requests.get(loc, timeout=T)
        assert r.status_code == 200 and r.content == b"data1", (r.status_code, r.text)
        unsigned = loc[: loc.rindex("&sig=")]
        sig = loc[loc.rindex("&sig=") + 5:]
        bad_sig = unsigned + "&sig=" + ("A" if sig[0] != "A" else "B") + sig[1:]
        for url in (unsigned, bad_sig, loc.replace("/o1?", "/o2?"), unsigned + "&sig="):
            refused(requests.get(url, timeout=T), 401, "token required")
        # The GET's signature does not make a PUT or a DELETE.
        refused(requests.put(loc, data=b"forged", timeout=T), 401, "token required")
        refused(requests.delete(loc, timeout=T), 401, "token required")
        # A redirect of a PUT the proxy refused never exists; a forged one is refused.
        smap = c.primary.smap()
        turls = [t["public_net"]["direct_url"] for t in smap["tmap"].values()]
        forged = f"/v1/objects/sb/new?provider=ais&pid={c.primary.persisted_id()}&utm=1"
        for tu in turls:
            refused(requests.put(tu + forged, data=b"x", timeout=T), 401, "token required")
            refused(requests.put(tu + forged, data=b"x", headers=ro, timeout=T), 403)
            refused(requests.get(f"{tu}/v1/objects/sb/o2?provider=ais", timeout=T), 401)
            r = requests.get(f"{tu}/v1/objects/sb/o2?provider=ais", headers=ro, timeout=T)
            assert r.status_code == 200 and r.content == b"data2", (r.status_code, r.text)
            # S3 straight to a target, with or without a made-up forward signature.
            for h in ({}, {"Ais-Forward-Sig": "1.AAAA"}, {"Ais-Forwarded-By": "p1"}):
                r = requests.get(f"{tu}/s3/sb/o2", headers=h, timeout=T)
                assert r.status_code == 403 and "AccessDenied" in r.text, (r.status_code, r.text)
                r = requests.put(f"{tu}/s3/sb/s3new", data=b"x", headers=h, timeout=T)
                assert r.status_code == 403 and "AccessDenied" in r.text, (r.status_code, r.text)
            # Intra-cluster control endpoints: nodes only.
            refused(requests.put(f"{tu}/v1/metasync", data=b"{}", timeout=T), 401)
            refused(requests.put(f"{tu}/v1/metasync", data=b"{}", headers=bearer(admin_t), timeout=T),
                    403, "intra-cluster")
        refused(requests.post(f"{ep}/v1/cluster/keepalive/x", data=b"{}", headers=ro, timeout=T), 403)
        refused(requests.post(f"{ep}/v1/cluster/autoreg", data=b"{}", timeout=T), 401)
        # S3 through the proxy (forwarded with its signature) still works with a token.
        r = requests.get(f"{ep}/s3/sb/o3", headers={"X-Amz-Security-Token": ro["Authorization"][7:]},
                         timeout=T)
        assert r.status_code == 200 and r.content == b"data3", (r.status_code, r.text)
        # Nothing refused changed anything.
        names = sorted(e.name for e in admin.bucket("sb").list_all_objects())
        assert names == sorted(f"o{i}" for i in range(30)), names
        assert content("o1") == b"data1" and content("o2") == b"data2"
        # A token revoked now: a target that joins later learns it through metasync.
        revoked = token(clusters=[{"id": uuid, "perm": str(RO)}], sub="carol")
        r = requests.delete(f"{ep}/v1/tokens", json={"token": revoked}, headers=bearer(admin_t), timeout=T)
        assert r.status_code == 200, r.text
        # A third target joins: rebalance moves objects between targets with node tokens.
        t = c.add_target_node("target2")
        t.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET}
        t.auth_headers = bearer(admin_t)
        t.spawn()
        c.wait_converged(c.nodes, deadline_s=60)
        c.wait_rebalanced(deadline_s=60)
        for i in range(30):
            assert content(f"o{i}") == f"data{i}".encode()
        for n in c.targets:
            refused(requests.get(f"{n.endpoint}/v1/objects/sb/o2?provider=ais", headers=bearer(revoked),
                                 timeout=T), 401, "revoked")
        # And the primary, restarted (nobody pushes metadata to it), still refuses it: the list
        # is persisted.
        c.primary.restart()
        refused(requests.get(obj_url(ep, "sb", "o2"), headers=bearer(revoked), allow_redirects=False,
                             timeout=T), 401, "revoked")
        c.wait_converged(c.nodes, deadline_s=60)
        moved = 0
        for n in c.targets[:2]:
            r = requests.get(f"{n.endpoint}/v1/daemon?what=jobs", headers=bearer(admin_t), timeout=T)
            moved += sum(int(j.get("objects", 0)) for j in r.json() if j.get("kind") == "rebalance")
        assert moved > 0
    finally:
        c.close()
