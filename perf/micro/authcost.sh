#!/usr/bin/env bash
# usage: authcost.sh [BIN] [ROUNDS]: CPU per request of authentication (issue 18), one node,
# 1 core, wrk -t1 -c16 -d5s, CPU from /proc/PID/stat, auth off and on alternating:
#   proxy: GET on the public port, answered with the redirect (301): with auth on that is the
#          token check (HS256 signature, claims, permission) plus signing the redirect;
#   core:  GET of the redirect's URL on the core port, 4 KiB object: with auth on, the
#          redirect signature is checked.
set -e
BIN=${1:-target/release/aisnode}; R=${2:-2}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/authcost.XXXX)
PORT=18080
KEY=authcost-secret
AIS_AUTHN_SECRET_KEY=$KEY $BIN --port $PORT --core-port-base 18100 --data-dir $D --cores 1 --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && break; sleep 0.1; done
TOKEN=$(python3 - "$KEY" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
c = b(json.dumps({"clusters": [{"id": "", "perm": "771"}], "buckets": [], "admin": False,
                  "sub": "bench", "exp": int(time.time()) + 3600, "iat": int(time.time())}).encode())
s = b(hmac.new(sys.argv[1].encode(), f"{h}.{c}".encode(), hashlib.sha256).digest())
print(f"{h}.{c}.{s}")
EOF
)
ADMIN=$(python3 - "$KEY" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
c = b(json.dumps({"clusters": None, "admin": True, "sub": "admin", "exp": int(time.time()) + 3600}).encode())
s = b(hmac.new(sys.argv[1].encode(), f"{h}.{c}".encode(), hashlib.sha256).digest())
print(f"{h}.{c}.{s}")
EOF
)
A="Authorization: Bearer $ADMIN"
curl -sf -XPOST -H "$A" -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/b" >/dev/null
head -c 4096 /dev/urandom > $D/obj
curl -sfL -XPUT -H "$A" -T $D/obj "http://127.0.0.1:$PORT/v1/objects/b/o" >/dev/null
auth() { curl -sf -XPUT -H "$A" "http://127.0.0.1:$PORT/v1/cluster/set-config?auth.client_auth_required=$1" >/dev/null; }
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
run() { # name url [header]
  local t0 t1 out reqs
  wrk -t1 -c16 -d1s ${3:+-H "$3"} "$2" >/dev/null
  t0=$(ticks); out=$(wrk -t1 -c16 -d5s ${3:+-H "$3"} "$2"); t1=$(ticks)
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  printf "%-22s req/s %8s  non2xx/3xx %-6s cpu us/req %s\n" "$1" \
    "$(echo "$out" | awk '/Requests\/sec/{print int($2)}')" \
    "$(echo "$out" | awk '/Non-2xx/{print $5}')" \
    "$(echo "($t1-$t0)*10000/$reqs" | bc -l | cut -c1-6)"
}
for r in $(seq $R); do
  auth false
  LOC=$(curl -s -o /dev/null -w '%{redirect_url}' "http://127.0.0.1:$PORT/v1/objects/b/o")
  run "proxy 301, auth off" "http://127.0.0.1:$PORT/v1/objects/b/o"
  run "core GET, auth off" "$LOC"
  auth true
  LOC=$(curl -s -o /dev/null -w '%{redirect_url}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/objects/b/o")
  curl -sf "$LOC" | cmp - $D/obj
  run "proxy 301, auth on" "http://127.0.0.1:$PORT/v1/objects/b/o" "Authorization: Bearer $TOKEN"
  run "core GET, auth on" "$LOC"
done
