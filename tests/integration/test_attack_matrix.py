"""The attack suite of issue 18: every route of the native and S3 APIs, from the node's own route
table (`docs/route-table.json`, written and checked by aisnode's `auth::ROUTES` tests, which also
fail when `routes.rs` dispatches a resource the table lacks), called with no credentials, a
malformed token, a token signed with another key, an expired token, a revoked token, a token with
`alg: none` (those five as admin tokens: the worst case if a check were missing) and a valid token
without the route's permission, over HTTP and over HTTPS (TLS on all three networks). Each answers
401 or 403 (S3: 403 AccessDenied) on the proxy and
on a target's own port, no error body carries the key or a node's directories, and nothing
changes: buckets, objects, bucket props, cluster map and config are compared before and after.

Hostile object and bucket names (traversal, encoded traversal, NUL, over-long, Unicode look-alikes
of `.` and `/`, backslashes) from an admin are refused or stored inside a mountpath: no file named
after them appears anywhere else.
"""

import base64
import hashlib
import hmac
import json
import os
import time
from urllib.parse import quote

import pytest
import requests

import conftest
import rawhttp
from aisutil import make_client
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(300)

T = 30
SECRET = "attack-matrix-secret-key"
ALL18 = (1 << 18) - 1
ADMIN = 1 << 17
TABLE = json.loads(
    open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "route-table.json")).read())


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(admin=False, clusters=None, ttl=600, key=SECRET, alg="HS256", sub="mallory"):
    claims = {"clusters": clusters, "admin": admin, "sub": sub, "exp": int(time.time()) + ttl,
              "iat": int(time.time()) - 5}
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = "" if alg == "none" else b64(hmac.new(key.encode(), f"{head}.{body}".encode(),
                                               hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


@pytest.fixture(scope="module", params=["http", "https"])
def authed(request, aisnode_binary, tmp_path_factory):
    """A 1-proxy/2-target cluster with authentication on; over HTTPS, TLS on all three networks
    (test_tls.py's CA and certificates; `requests` trusts the CA through the environment)."""
    scheme = request.param
    base = tmp_path_factory.mktemp(f"attack-{scheme}")
    c = Cluster(aisnode_binary, base, proxies=1, targets=2, mountpaths=1, target_cores=2)
    admin_t = token(admin=True, sub="admin")
    env = None
    if scheme == "https":
        from test_tls import CaEnv, make_pki, tls_config
        pki = make_pki(base / "pki")
        cfg = base / "ais.json"
        cfg.write_text(json.dumps(tls_config(pki, 0)))
        env = CaEnv()
        env.use(pki / "ca.crt")
        for n in c.nodes:
            n.scheme = "https"
            ctl, data = conftest.pick_port_range(1), conftest.pick_port_range(1)
            n.extra_args += ["--config", str(cfg), "--intra-control", f"127.0.0.1:{ctl}",
                             "--intra-data", f"127.0.0.1:{data}"]
        for n in c.nodes[1:]:
            n.primary_url = c.primary.endpoint
    for n in c.nodes:
        n.extra_env = {"AIS_AUTHN_SECRET_KEY": SECRET}
        n.auth_headers = bearer(admin_t)
    try:
        c.start()
        ep = c.primary.endpoint
        assert ep.startswith(f"{scheme}://"), ep
        r = requests.put(f"{ep}/v1/cluster/set-config?auth.client_auth_required=true",
                         headers=bearer(admin_t), timeout=T)
        assert r.status_code == 200, r.text
        r = requests.get(f"{ep}/v1/daemon?what=smap", headers=bearer(admin_t), timeout=T)
        uuid = r.json()["uuid"]
        admin = make_client(ep, token=admin_t)
        admin.bucket("mx").create()
        for i in range(3):
            admin.bucket("mx").object(f"o{i}").get_writer().put_content(f"content-{i}".encode())
        yield c, admin_t, uuid, base
    finally:
        try:
            c.close()
        finally:
            if env is not None:
                env.restore()


def snapshot(c, admin_t):
    """What a refused request must not change."""
    ep = c.primary.endpoint
    h = bearer(admin_t)
    buckets = requests.get(f"{ep}/v1/buckets?provider=ais", headers=h, timeout=T).json()
    names = sorted(b["name"] for b in buckets or [])
    objs = {}
    for b in names:
        r = requests.get(f"{ep}/v1/buckets/{b}?provider=ais", headers=h, timeout=T,
                         json={"action": "list", "value": {"props": "name,size,checksum,version"}})
        assert r.status_code == 200, r.text
        for e in r.json().get("entries") or []:
            objs[f"{b}/{e['name']}"] = (e.get("size"), e.get("checksum"), e.get("version"))
    props = {}
    for b in names:
        r = requests.head(f"{ep}/v1/buckets/{b}?provider=ais", headers=h, timeout=T)
        props[b] = r.headers.get("Ais-Bucket-Props")
    smap = requests.get(f"{ep}/v1/daemon?what=smap", headers=h, timeout=T).json()
    config = requests.get(f"{ep}/v1/cluster?what=config", headers=h, timeout=T).json()
    return {
        "buckets": names,
        "objects": objs,
        "props": props,
        "smap": (smap["version"], sorted(smap["pmap"]), sorted(smap["tmap"]), smap.get("primary", {}).get("id") if isinstance(smap.get("primary"), dict) else None),
        "config": config,
    }


def fill(s, node_id):
    return (s.replace("{bucket}", "mx").replace("{new}", "mxnew").replace("{object}", "o1")
            .replace("{node}", node_id))


def call(base, route, headers, node_id):
    path = fill(route["path"], node_id)
    query = fill(route["query"], node_id)
    if route["api"] == "native" and "provider=" not in query and (
            path.startswith("/v1/objects/") or path.startswith("/v1/buckets/") or path.startswith("/ais/")):
        query = "provider=ais" + ("&" + query if query else "")
    url = f"{base}{path}" + (f"?{query}" if query else "")
    body = fill(route["body"], node_id).encode()
    hdrs = dict(headers)
    if body and route["api"] == "native":
        hdrs["Content-Type"] = "application/json"
    return requests.request(route["method"], url, headers=hdrs, data=body or None, timeout=T,
                            allow_redirects=False)


def bad_credentials(c, admin_t):
    """(name, native headers, S3 headers), all carrying admin rights if they were accepted."""
    revoked = token(admin=True, sub="revoked-admin")
    r = requests.delete(f"{c.primary.endpoint}/v1/tokens", json={"token": revoked},
                        headers=bearer(admin_t), timeout=T)
    assert r.status_code == 200, r.text
    out = []
    for name, t in (
        ("malformed", "not-a.jwt"),
        ("other-key", token(admin=True, key="some-other-key")),
        ("expired", token(admin=True, ttl=-60)),
        ("revoked", revoked),
        ("alg-none", token(admin=True, alg="none")),
    ):
        out.append((name, bearer(t), {"X-Amz-Security-Token": t}))
    out.append(("none", {}, {}))
    return out


def test_every_route_refuses_bad_credentials_and_changes_nothing(authed):
    c, admin_t, uuid, base = authed
    scheme = c.primary.endpoint.split(":")[0]
    smap = requests.get(f"{c.primary.endpoint}/v1/daemon?what=smap", headers=bearer(admin_t),
                        timeout=T).json()
    tid = sorted(smap["tmap"])[0]
    target_url = smap["tmap"][tid]["public_net"]["direct_url"]
    before = snapshot(c, admin_t)
    creds = bad_credentials(c, admin_t)
    failures, leaks, calls = [], [], 0
    for route in TABLE:
        if route["need"] == "open":
            continue
        # A valid token without what the route needs (every other bit of the cluster ACL).
        lacking = token(clusters=[{"id": uuid, "perm": str(ALL18 & ~route["perms"] if route["perms"] else ALL18 & ~ADMIN)}])
        cases = list(creds)
        if route["need"] != "token":
            cases.append(("no-permission", bearer(lacking), {"X-Amz-Security-Token": lacking}))
        for base_url in (c.primary.endpoint, target_url):
            for name, native_h, s3_h in cases:
                r = call(base_url, route, s3_h if route["api"] == "s3" else native_h, tid)
                calls += 1
                what = f"{route['method']} {route['path']}?{route['query']} [{name}] at {base_url}"
                text = r.text + r.headers.get("Hdr-Error", "")
                if route["api"] == "s3":
                    ok = r.status_code == 403 and (route["method"] == "HEAD" or "AccessDenied" in text)
                else:
                    want = 403 if name == "no-permission" else 401
                    ok = r.status_code == want
                if not ok:
                    failures.append(f"{what}: HTTP {r.status_code} {text[:200]}")
                if SECRET in text or str(base) in text:
                    leaks.append(f"{what}: {text[:300]}")
    assert calls > 500, calls
    assert target_url.startswith(f"{scheme}://"), target_url
    assert not failures, f"{len(failures)} of {calls} calls not refused as expected:\n" + "\n".join(failures)
    assert not leaks, "error bodies leak the key or node directories:\n" + "\n".join(leaks)
    after = snapshot(c, admin_t)
    assert after == before


HOSTILE = [
    "../../../../../../tmp/{m}",
    "..%2f..%2f..%2f{m}",
    "%2e%2e/%2e%2e/{m}",
    "a/%2E%2E/%2E%2E/%2E%2E/{m}",
    "..%5c..%5c{m}",
    "%00{m}",
    "{m}%00.txt",
    "%EF%BC%8E%EF%BC%8E%EF%BC%8F{m}",  # fullwidth "．．／"
    "..%E2%88%95..%E2%88%95{m}",  # ".." + division slash
    "%E2%80%A4%E2%80%A4/{m}",  # one-dot leaders
    "{m}" + "x" * 1100,
    "d/" * 600 + "{m}",
    "/{m}",
    "//{m}",
]


@pytest.mark.parametrize("authed", ["http"], indirect=True)
def test_hostile_names_stay_inside_the_mountpaths(authed):
    c, admin_t, _uuid, base = authed
    marker = f"hostile{int(time.time() * 1000) % 1000000}"
    h = bearer(admin_t)
    statuses = {}
    for tmpl in HOSTILE:
        name = tmpl.format(m=marker)
        for path in (f"/v1/objects/mx/{name}?provider=ais", f"/s3/mx/{name}"):
            hh = dict(h) if path.startswith("/v1") else {"X-Amz-Security-Token": admin_t}
            for method, body in (("PUT", b"evil"), ("GET", b""), ("HEAD", b""), ("DELETE", b"")):
                resp, _ = rawhttp.request(c.primary.port, method, path, hh, body)
                statuses[(method, path[:60])] = resp.status
                assert resp.status < 500, (method, path, resp.status, resp.body[:300])
                text = resp.body.decode("latin-1") + (resp.header("hdr-error") or "")
                assert SECRET not in text and str(base) not in text, (method, path, text[:300])
        # Bucket names too: created nowhere.
        resp, _ = rawhttp.request(c.primary.port, "POST", f"/v1/buckets/{name}?provider=ais",
                                  {**h, "Content-Type": "application/json"}, b'{"action":"create-bck"}')
        assert resp.status == 400, (name, resp.status, resp.body[:200])
    mountpaths = [os.path.realpath(m) for n in c.targets for m in n.mountpaths]
    outside = []
    for dirpath, dirs, files in os.walk("/tmp"):
        if any(os.path.realpath(dirpath).startswith(m) for m in mountpaths):
            continue
        outside += [os.path.join(dirpath, f) for f in files + dirs if marker in f]
    assert not outside, f"names reached outside the mountpaths: {outside}"
    # What was stored under a hostile-looking name reads back under that name, inside a mountpath.
    r = requests.get(f"{c.primary.endpoint}/v1/buckets/mx?provider=ais", headers=h, timeout=T,
                     json={"action": "list", "value": {"props": "name"}})
    stored = [e["name"] for e in r.json().get("entries") or [] if marker in e["name"]]
    for n in stored:
        assert ".." not in n.split("/") and "\x00" not in n, n
        r = requests.delete(f"{c.primary.endpoint}/v1/objects/mx/{quote(n)}?provider=ais", headers=h,
                            timeout=T)
        assert r.status_code == 200, (n, r.status_code, r.text)
