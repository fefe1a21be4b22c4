"""Our AuthN service (`authn`, issue 18) with the official SDK's `AuthNClient`, against a
1-proxy/2-target cluster with authentication on: the admin logs in, registers the cluster,
creates roles (cluster-wide and bucket-scoped permissions) and users; each user's token then
lets the SDK's bucket and object calls through, or not (401/403), exactly as its roles say,
and a refused call changes nothing. Also: wrong passwords, logout (the cluster refuses the
token at once, "revoked"), user and role updates and deletion, and an AuthN restart that keeps
users, roles, clusters and revoked tokens. And AuthN signing RS256 with an RSA key (AIS's
default), its public key given to a 1-proxy/1-target cluster.
"""

import base64
import json
import subprocess
import time

import pytest
import requests
from aistore.sdk.authn import AuthNClient
from aistore.sdk.authn.access_attr import AccessAttr as A
from aistore.sdk.authn.errors import AuthNError, ErrRoleNotFound, ErrUserInvalidCredentials, ErrUserNotFound
from aistore.sdk.errors import AISError

from aisutil import make_client
from authnutil import ADMIN_PASS, ADMIN_USER, AuthnServer, authn_binary_path
from clusterutil import Cluster
from conftest import NodeError

pytestmark = pytest.mark.timeout(240)

T = 30
SECRET = "authn-integration-test-secret"
ALIAS = "itclu"
PASS = "user-pass-1"


def denied(call, status, words=""):
    """`call()` raises AISError with `status` (and `words` in its message)."""
    __tracebackhide__ = True
    with pytest.raises(AISError) as e:
        call()
    assert e.value.status_code == status, (e.value.status_code, str(e.value))
    assert words in str(e.value), str(e.value)


def authn_client(a, user=None, password=PASS):
    c = AuthNClient(a.endpoint, timeout=T)
    if user:
        c.login(user, password)
    return c


@pytest.fixture(scope="module")
def setup(aisnode_binary, tmp_path_factory):
    binary = authn_binary_path()
    if not binary.is_file():
        pytest.fail(f"authn binary not found at {binary}; cargo build --release -p authn, or set AUTHN_BIN")
    base = tmp_path_factory.mktemp("authn")
    c = Cluster(aisnode_binary, base / "cluster", proxies=1, targets=2, mountpaths=1, target_cores=2)
    for n in c.nodes:
        n.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET}
    a = AuthnServer(binary, base / "authn", SECRET)
    try:
        a.start()
        c.start()
        ep = c.primary.endpoint
        admin = authn_client(a, ADMIN_USER, ADMIN_PASS)
        admin_t = admin.client.token
        # The admin's token (signed by AuthN) turns authentication on.
        r = requests.put(f"{ep}/v1/cluster/set-config?auth.client_auth_required=true",
                         headers={"Authorization": f"Bearer {admin_t}"}, timeout=T)
        assert r.status_code == 200, r.text
        info = admin.cluster_manager().register(ALIAS, [ep])
        ais_admin = make_client(ep, token=admin_t)
        for b in ("ab", "other"):
            ais_admin.bucket(b).create()
            ais_admin.bucket(b).object("o").get_writer().put_content(f"{b}-data".encode())
        yield {"authn": a, "cluster": c, "ep": ep, "admin": admin, "ais_admin": ais_admin, "uuid": info.id}
    finally:
        c.close()
        a.close()


def user_with(s, name, roles):
    s["admin"].user_manager().create(name, roles, PASS)
    tok = authn_client(s["authn"], name).client.token
    return make_client(s["ep"], token=tok), tok


def test_roles_grant_exactly_their_operations(setup):
    s = setup
    admin, ais_admin, uuid = s["admin"], s["ais_admin"], s["uuid"]
    # Registration: the cluster by alias and UUID, its predefined roles.
    assert admin.cluster_manager().get(cluster_alias=ALIAS).id == uuid
    assert uuid == requests.get(f"{s['ep']}/v1/daemon?what=smap", timeout=T,
                                headers={"Authorization": f"Bearer {admin.client.token}"}).json()["uuid"]
    assert admin.role_manager().get(f"Guest-{ALIAS}").clusters[0].perm == str(int(A.ACCESS_RO))
    assert admin.role_manager().get(f"ClusterOwner-{ALIAS}").clusters[0].perm == "18446744073709551615"

    roles = admin.role_manager()
    roles.create("bkt-rw", "bucket ab read-write", ALIAS,
                 [A.GET, A.OBJ_HEAD, A.PUT, A.OBJ_DELETE, A.OBJ_LIST, A.BCK_HEAD], bucket_name="ab")
    roles.create("bkt-get", "bucket ab GET only", ALIAS, [A.GET], bucket_name="ab")
    roles.create("clu-ops", "cluster operator", ALIAS,
                 [A.LIST_BUCKETS, A.CREATE_BUCKET, A.DESTROY_BUCKET, A.SHOW_CLUSTER])
    assert roles.get("bkt-get").buckets[0].bck.name == "ab"
    writer, _ = user_with(s, "writer", ["bkt-rw"])
    reader, _ = user_with(s, "reader", ["bkt-get"])
    operator, _ = user_with(s, "operator", ["clu-ops"])
    nobody, _ = user_with(s, "nobody", [])
    anonymous = make_client(s["ep"])

    # Bucket-scoped GET only.
    assert reader.bucket("ab").object("o").get_reader().read_all() == b"ab-data"
    denied(lambda: reader.bucket("ab").object("o").get_writer().put_content(b"x"), 403)
    denied(lambda: reader.bucket("ab").object("o").head(), 403)
    denied(lambda: reader.bucket("ab").object("o").delete(), 403)
    denied(lambda: reader.bucket("ab").list_all_objects(), 403)
    denied(lambda: reader.bucket("ab").head(), 403)
    denied(lambda: reader.bucket("other").object("o").get_reader().read_all(), 403)
    denied(lambda: reader.cluster().list_buckets(), 403)
    denied(lambda: reader.bucket("rb").create(), 403)

    # Bucket-scoped read-write on ab, nothing elsewhere.
    writer.bucket("ab").object("w1").get_writer().put_content(b"written")
    assert writer.bucket("ab").object("w1").head() is not None
    assert writer.bucket("ab").head() is not None
    assert sorted(e.name for e in writer.bucket("ab").list_all_objects()) == ["o", "w1"]
    writer.bucket("ab").object("w1").delete()
    denied(lambda: writer.bucket("other").object("o").get_reader().read_all(), 403)
    denied(lambda: writer.bucket("other").object("o").get_writer().put_content(b"x"), 403)
    denied(lambda: writer.cluster().list_buckets(), 403)
    denied(lambda: writer.cluster().get_info(), 403)
    denied(lambda: writer.bucket("wb").create(), 403)

    # Cluster-scoped: list, create, destroy buckets, show the cluster; no object access.
    assert {"ab", "other"} <= {b.name for b in operator.cluster().list_buckets()}
    assert operator.cluster().get_info().uuid == uuid
    operator.bucket("opb").create()
    assert "opb" in {b.name for b in ais_admin.cluster().list_buckets()}
    operator.bucket("opb").delete()
    denied(lambda: operator.bucket("ab").object("o").get_reader().read_all(), 403)
    denied(lambda: operator.bucket("ab").object("o").get_writer().put_content(b"x"), 403)

    # No roles: nothing; no token: 401.
    for call in (lambda: nobody.cluster().list_buckets(), lambda: nobody.cluster().get_info(),
                 lambda: nobody.bucket("ab").object("o").get_reader().read_all()):
        denied(call, 403)
    denied(lambda: anonymous.bucket("ab").object("o").get_reader().read_all(), 401, "token required")
    denied(lambda: anonymous.cluster().list_buckets(), 401, "token required")

    # Nothing refused changed anything.
    assert ais_admin.bucket("ab").object("o").get_reader().read_all() == b"ab-data"
    assert ais_admin.bucket("other").object("o").get_reader().read_all() == b"other-data"
    assert sorted(e.name for e in ais_admin.bucket("ab").list_all_objects()) == ["o"]
    assert {b.name for b in ais_admin.cluster().list_buckets()} == {"ab", "other"}

    # Users hold their roles; only the admin may create users.
    assert [r.name for r in admin.user_manager().get("writer").roles] == ["bkt-rw"]
    with pytest.raises(AuthNError) as e:
        authn_client(s["authn"], "writer").user_manager().create("sneaky", [], "pw")
    assert e.value.status_code == 401
    with pytest.raises(ErrUserNotFound):
        admin.user_manager().get("sneaky")


def test_each_permission_allows_its_own_operation_only(setup):
    """One role per permission bit (bucket bits on bucket `ab`, cluster bits on the cluster):
    its user may do that one operation and gets 403 for each of the others."""
    s = setup
    admin, ais_admin = s["admin"], s["ais_admin"]
    ab = lambda c: c.bucket("ab")  # noqa: E731

    def prepare_delete():
        ais_admin.bucket("ab").object("victim").get_writer().put_content(b"v")

    def prepare_destroy():
        if "victimb" not in {b.name for b in ais_admin.cluster().list_buckets()}:
            ais_admin.bucket("victimb").create()

    # permission -> (scope, operation, preparation)
    ops = {
        A.GET: ("bucket", lambda c: ab(c).object("o").get_reader().read_all(), None),
        A.OBJ_HEAD: ("bucket", lambda c: ab(c).object("o").head(), None),
        A.PUT: ("bucket", lambda c: ab(c).object("put-by-user").get_writer().put_content(b"p"), None),
        A.OBJ_DELETE: ("bucket", lambda c: ab(c).object("victim").delete(), prepare_delete),
        A.OBJ_LIST: ("bucket", lambda c: ab(c).list_all_objects(), None),
        A.BCK_HEAD: ("bucket", lambda c: ab(c).head(), None),
        A.LIST_BUCKETS: ("cluster", lambda c: c.cluster().list_buckets(), None),
        A.SHOW_CLUSTER: ("cluster", lambda c: c.cluster().get_info(), None),
        A.CREATE_BUCKET: ("cluster", lambda c: c.bucket("createdb").create(), None),
        A.DESTROY_BUCKET: ("cluster", lambda c: c.bucket("victimb").delete(), prepare_destroy),
    }
    for perm, (scope, _, _) in ops.items():
        name = f"only-{perm.name.lower().replace('_', '-')}"
        admin.role_manager().create(name, f"{perm.name} only", ALIAS, [perm],
                                    bucket_name="ab" if scope == "bucket" else None)
        client, _ = user_with(s, f"u-{name}", [name])
        for other, (_, op, prepare) in ops.items():
            if prepare:
                prepare()
            if other == perm:
                op(client)
            else:
                with pytest.raises(AISError) as e:
                    op(client)
                assert e.value.status_code == 403, (perm.name, other.name, str(e.value))
        if perm == A.CREATE_BUCKET:
            ais_admin.bucket("createdb").delete()
    # Nothing refused changed anything: the objects are the original, the one PUT and the
    # delete victim (put back before each try); no bucket was created (the victim bucket
    # was destroyed by the last user, the one allowed to).
    assert ais_admin.bucket("ab").object("o").get_reader().read_all() == b"ab-data"
    assert sorted(e.name for e in ais_admin.bucket("ab").list_all_objects()) == ["o", "put-by-user", "victim"]
    assert {b.name for b in ais_admin.cluster().list_buckets()} == {"ab", "other"}
    ais_admin.bucket("ab").object("victim").delete()
    ais_admin.bucket("ab").object("put-by-user").delete()


def test_credentials_logout_and_changes(setup):
    s = setup
    a, admin = s["authn"], s["admin"]
    admin.role_manager().create("ops2", "lister and creator", ALIAS, [A.LIST_BUCKETS, A.CREATE_BUCKET])
    admin.user_manager().create("carol", ["ops2"], PASS)

    with pytest.raises(ErrUserInvalidCredentials):
        authn_client(a).login("carol", "wrong-password")
    with pytest.raises(ErrUserInvalidCredentials):
        authn_client(a).login("nobody-at-all", PASS)

    # Logout: the cluster refuses the token at once.
    carol = authn_client(a, "carol")
    ais = make_client(s["ep"], token=carol.client.token)
    assert "ab" in {b.name for b in ais.cluster().list_buckets()}
    carol.logout()
    denied(lambda: ais.cluster().list_buckets(), 401, "revoked")

    # A role update replaces the cluster permission: a new login lists, and no longer creates.
    c2 = make_client(s["ep"], token=authn_client(a, "carol").client.token)
    c2.bucket("carolb").create()
    admin.role_manager().update("ops2", cluster_alias=ALIAS, perms=[A.LIST_BUCKETS])
    assert admin.role_manager().get("ops2").clusters[0].perm == str(int(A.LIST_BUCKETS))
    c3 = make_client(s["ep"], token=authn_client(a, "carol").client.token)
    assert "carolb" in {b.name for b in c3.cluster().list_buckets()}
    denied(lambda: c3.bucket("carolb2").create(), 403)
    assert "carolb2" not in {b.name for b in s["ais_admin"].cluster().list_buckets()}
    s["ais_admin"].bucket("carolb").delete()

    # Password and roles updates.
    admin.user_manager().update("carol", password="second-pass")
    with pytest.raises(ErrUserInvalidCredentials):
        authn_client(a).login("carol", PASS)
    admin.user_manager().update("carol", roles=[f"Guest-{ALIAS}"])
    c4 = make_client(s["ep"], token=authn_client(a, "carol", "second-pass").client.token)
    denied(lambda: c4.cluster().list_buckets(), 403)
    assert c4.bucket("ab").object("o").get_reader().read_all() == b"ab-data"

    # Deleting the role takes it from the user; deleting the user ends its logins.
    admin.role_manager().delete("ops2")
    with pytest.raises(ErrRoleNotFound):
        admin.role_manager().get("ops2")
    admin.user_manager().delete("carol")
    with pytest.raises(ErrUserNotFound):
        admin.user_manager().get("carol")
    with pytest.raises(ErrUserInvalidCredentials):
        authn_client(a).login("carol", "second-pass")
    admin.user_manager().delete("carol", missing_ok=True)


def test_restart_keeps_everything(setup):
    s = setup
    a, admin = s["authn"], s["admin"]
    admin.role_manager().create("keep", "kept across restarts", ALIAS, [A.LIST_BUCKETS])
    admin.user_manager().create("dave", ["keep"], PASS)
    dave = authn_client(a, "dave")
    revoked = dave.client.token
    dave.logout()

    rc, killed = a.stop()
    assert (rc, killed) == (0, False), f"SIGTERM should stop authn cleanly\n{a.log_tail()}"
    a.start()

    assert "dave" in admin.user_manager().list()
    assert [r.name for r in admin.user_manager().get("dave").roles] == ["keep"]
    assert admin.cluster_manager().get(cluster_alias=ALIAS).id == s["uuid"]
    ais = make_client(s["ep"], token=authn_client(a, "dave").client.token)
    assert "ab" in {b.name for b in ais.cluster().list_buckets()}
    # The revoked token stays revoked, at AuthN and at the cluster.
    r = requests.get(f"{a.endpoint}/v1/users/dave", headers={"Authorization": f"Bearer {revoked}"}, timeout=T)
    assert r.status_code == 401 and "revoked" in r.text, r.text
    denied(lambda: make_client(s["ep"], token=revoked).cluster().list_buckets(), 401, "revoked")


def test_rs256_authn_with_a_cluster(aisnode_binary, tmp_path):
    """AuthN without an HMAC secret signs RS256 with its RSA key; the nodes get the public key
    it serves (AIS_AUTHN_PUBLIC_KEY) and AIS_INTRA_CLUSTER_KEY for their own calls. The SDK
    registers the cluster and manages a role and a user whose token works exactly as the role
    says; logout revokes it at the cluster."""
    t0 = time.monotonic()
    binary = authn_binary_path()
    if not binary.is_file():
        pytest.fail(f"authn binary not found at {binary}; cargo build --release -p authn, or set AUTHN_BIN")
    key = tmp_path / "authn_rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(key)], check=True, capture_output=True, timeout=T)
    want_pub = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], check=True, capture_output=True,
                              timeout=T).stdout.decode()
    # No secret and no key: AIS's AuthN would generate one; ours says how to make one.
    nokey = AuthnServer(binary, tmp_path / "nokey", None)
    with pytest.raises(NodeError):
        nokey.start()
    nokey.close()
    assert nokey.last_returncode == 1 and "openssl genpkey -algorithm RSA" in nokey.log_tail(), nokey.log_tail()
    a = AuthnServer(binary, tmp_path / "authn", None)
    a.extra_env = {"AIS_AUTHN_PRIVATE_KEY_FILE": str(key)}
    c = Cluster(aisnode_binary, tmp_path / "cluster", proxies=1, targets=1, mountpaths=1, target_cores=2)
    try:
        # AuthN first: the nodes need its public key at start.
        a.start()
        r = requests.get(f"{a.endpoint}/v1/public-key", timeout=T)
        assert r.status_code == 200, r.text
        pub = r.json()["public_key"]
        assert pub == want_pub
        r = requests.get(f"{a.endpoint}/.well-known/jwks.json", timeout=T)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "max-age=86400, public", r.text
        (jwk,) = r.json()["keys"]
        assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["e"]) == ("RSA", "sig", "RS256", "AQAB")

        admin = authn_client(a, ADMIN_USER, ADMIN_PASS)
        admin_t = admin.client.token
        header = json.loads(base64.urlsafe_b64decode(admin_t.split(".")[0] + "=="))
        assert header == {"alg": "RS256", "kid": jwk["kid"], "typ": "JWT"}
        for n in c.nodes:
            n.extra_env = {"AIS_AUTHN_PUBLIC_KEY": pub, "AIS_INTRA_CLUSTER_KEY": "rsa-test-intra-key"}
            n.auth_headers = {"Authorization": f"Bearer {admin_t}"}
        c.start()
        ep = c.primary.endpoint
        r = requests.put(f"{ep}/v1/cluster/set-config?auth.client_auth_required=true",
                         headers={"Authorization": f"Bearer {admin_t}"}, timeout=T)
        assert r.status_code == 200, r.text
        info = admin.cluster_manager().register(ALIAS, [ep])
        ais_admin = make_client(ep, token=admin_t)
        ais_admin.bucket("rb").create()
        ais_admin.bucket("rb").object("o").get_writer().put_content(b"rsa-data")
        ais_admin.bucket("other").create()

        admin.role_manager().create("rb-read", "read bucket rb", ALIAS, [A.GET, A.OBJ_LIST], bucket_name="rb")
        admin.user_manager().create("rsauser", ["rb-read"], PASS)
        user_authn = authn_client(a, "rsauser")
        user = make_client(ep, token=user_authn.client.token)
        assert user.bucket("rb").object("o").get_reader().read_all() == b"rsa-data"
        assert [e.name for e in user.bucket("rb").list_all_objects()] == ["o"]
        denied(lambda: user.bucket("rb").object("o").get_writer().put_content(b"x"), 403)
        denied(lambda: user.bucket("rb").object("o").delete(), 403)
        denied(lambda: user.bucket("other").list_all_objects(), 403)
        denied(lambda: user.cluster().list_buckets(), 403)
        denied(lambda: make_client(ep).bucket("rb").object("o").get_reader().read_all(), 401, "token required")
        assert admin.cluster_manager().get(cluster_alias=ALIAS).id == info.id

        user_authn.logout()
        denied(lambda: user.bucket("rb").object("o").get_reader().read_all(), 401, "revoked")
        assert ais_admin.bucket("rb").object("o").get_reader().read_all() == b"rsa-data"
    finally:
        c.close()
        a.close()
    assert time.monotonic() - t0 < 30, "keep this test short"
