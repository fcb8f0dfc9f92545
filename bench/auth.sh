#!/usr/bin/env bash
# The cost of access control on the hottest request, a manifest GET by tag.
#
# usage: bench/auth.sh [WORKDIR]
# environment: ROUNDS=N (default 3), DURATION=seconds per wrk run (default 10),
#              CONNECTIONS (default 64), SKIP_BUILD=1 to use the existing release binary.
#
# Starts two release servers on 127.0.0.1 — one with `--auth none`, one with
# authentication on — pushes the same small image to each with curl, and runs wrk on
# `GET /v2/bench/app/manifests/latest` in interleaved rounds, so that drift of this VM
# hits every variant alike:
#   none    the open server, no credentials
#   basic   the authenticated server, the owner's basic credentials on every request
#   bearer  the authenticated server, an access token from /token on every request
# Prints each round and, per variant, the median req/s, p99 and server CPU time per
# request (from /proc; steadier than req/s on a VM whose client shares the cores).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-$(mktemp -d -t berth-auth-bench.XXXXXX)}
mkdir -p "$WORK"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
BERTH="$ROOT/target/release/berth"
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -p berth)

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # name auth-mode -> sets PORT and PID
  local name=$1 mode=$2
  PORT=$(free_port)
  BERTH_LOG=info "$BERTH" serve --data-dir "$WORK/$name" --listen "127.0.0.1:$PORT" \
    --auth "$mode" 2> "$WORK/$name.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && return 0
    sleep 0.1
  done
  echo "berth ($name) did not start; see $WORK/$name.log" >&2
  exit 1
}

push_image() { # base curl-auth-args...
  local base=$1; shift
  local config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
  local digest size manifest
  digest="sha256:$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
  size=$(printf '%s' "$config" | wc -c)
  curl -sf "$@" -X POST --data-binary "$config" -H 'Content-Type: application/octet-stream' \
    "$base/v2/bench/app/blobs/uploads/?digest=$digest" > /dev/null
  manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' "$digest" "$size")
  curl -sf "$@" -X PUT --data-binary "$manifest" \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    "$base/v2/bench/app/manifests/latest" > /dev/null
}

start open none
OPEN="http://127.0.0.1:$PORT"
OPEN_PID=$PID
push_image "$OPEN"
start secured token
SECURED="http://127.0.0.1:$PORT"
SECURED_PID=$PID
PASSWORD=$(cat "$WORK/secured/owner-password")
push_image "$SECURED" -u "owner:$PASSWORD"
BASIC="Basic $(printf 'owner:%s' "$PASSWORD" | base64 -w0)"
TOKEN=$(curl -sf -u "owner:$PASSWORD" \
  "$SECURED/token?service=berth&scope=repository:bench/app:pull" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# The access token lives 300 s by default; each round fetches a fresh one below.

ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
# The server's CPU time (user + system) in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run_wrk() { # variant server-pid url [header]
  local out before after
  before=$(cpu_ticks "$2")
  if [ $# -ge 4 ]; then
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$ACCEPT" -H "Authorization: $4" "$3")
  else
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$ACCEPT" "$3")
  fi
  after=$(cpu_ticks "$2")
  local non2xx rps p99 requests cpu_us
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<< "$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  requests=$(awk '/requests in/ {print $1}' <<< "$out")
  [ -z "$non2xx" ] || { echo "$1: $non2xx non-2xx responses" >&2; exit 1; }
  cpu_us=$(python3 -c "import os,sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf(\"SC_CLK_TCK\") * 1e6 / int(sys.argv[3]):.1f}')" "$before" "$after" "$requests")
  echo "$1 $rps $p99 $cpu_us" | tee -a "$WORK/rounds.txt"
}

: > "$WORK/rounds.txt"
for round in $(seq 1 "$ROUNDS"); do
  TOKEN=$(curl -sf -u "owner:$PASSWORD" \
    "$SECURED/token?service=berth&scope=repository:bench/app:pull" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  echo "round $round"
  run_wrk none "$OPEN_PID" "$OPEN/v2/bench/app/manifests/latest"
  run_wrk basic "$SECURED_PID" "$SECURED/v2/bench/app/manifests/latest" "$BASIC"
  run_wrk bearer "$SECURED_PID" "$SECURED/v2/bench/app/manifests/latest" "Bearer $TOKEN"
done

python3 - "$WORK/rounds.txt" <<'PY'
import statistics, sys
rows = {}
def ms(text):
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)
for line in open(sys.argv[1]):
    variant, rps, p99, cpu = line.split()
    rows.setdefault(variant, []).append((float(rps), ms(p99), float(cpu)))
def median(variant, i):
    return statistics.median(row[i] for row in rows[variant])
base_rps, base_cpu = median("none", 0), median("none", 2)
print("| variant | median req/s | vs none | median p99 ms | server CPU µs/request | vs none |")
print("|---|---:|---:|---:|---:|---:|")
for variant in ("none", "basic", "bearer"):
    rps, p99, cpu = median(variant, 0), median(variant, 1), median(variant, 2)
    print(f"| {variant} | {rps:,.0f} | {100 * (rps / base_rps - 1):+.1f}% | {p99:.2f} "
          f"| {cpu:.1f} | {100 * (cpu / base_cpu - 1):+.1f}% |")
PY
