#!/usr/bin/env bash
# Instructions the server executes per manifest GET, without access control, with basic
# credentials and with a bearer token: a count that does not depend on what else the
# machine is doing, unlike req/s on a shared VM.
#
# usage: bench/auth-instructions.sh   (needs valgrind; uses target/release/berth)
#
# Each variant runs the release server under callgrind twice, sending 500 and then 1500
# requests over one keep-alive connection after pushing one small image; the difference
# divided by 1000 is the cost of one request, free of start-up and shutdown. Kernel work
# (the network stack) is not counted, so the share of the whole CPU cost is smaller.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B="$ROOT/target/release/berth"
W=$(mktemp -d -t berth-callgrind.XXXXXX)
run() { # label mode header count
  local label=$1 mode=$2 header=$3 count=$4 port=$5
  valgrind --tool=callgrind --callgrind-out-file=$W/$label-$count.out $B serve --data-dir $W/$label-$count --listen 127.0.0.1:$port --auth $mode --log warn 2>$W/$label-$count.vg &
  local pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:$port/v2/ && break; sleep 0.2; done
  local base=http://127.0.0.1:$port auth=()
  local pw=""
  if [ "$mode" = token ]; then pw=$(cat $W/$label-$count/owner-password); auth=(-u owner:$pw); fi
  local config='{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
  local digest="sha256:$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)" size=$(printf '%s' "$config" | wc -c)
  curl -sf "${auth[@]}" -X POST --data-binary "$config" "$base/v2/b/a/blobs/uploads/?digest=$digest" >/dev/null
  curl -sf "${auth[@]}" -X PUT --data-binary "$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' $digest $size)" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "$base/v2/b/a/manifests/latest" >/dev/null
  local h=()
  case $header in
    basic) h=(-H "Authorization: Basic $(printf 'owner:%s' "$pw" | base64 -w0)");;
    bearer) tok=$(curl -sf -u owner:$pw "$base/token?service=berth&scope=repository:b/a:pull" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'); h=(-H "Authorization: Bearer $tok");;
  esac
  local urls=(); for _ in $(seq 1 $count); do urls+=(-o /dev/null "$base/v2/b/a/manifests/latest"); done
  curl -sf "${h[@]}" -H "Accept: application/vnd.oci.image.manifest.v1+json" "${urls[@]}" > /dev/null
  kill -TERM $pid; wait $pid || true
  awk '/^summary:|^totals:/ {print $2; exit}' $W/$label-$count.out
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for v in "none none none" "basic token basic" "bearer token bearer"; do
  set -- $v
  a=$(run $1 $2 $3 500 "$(free_port)"); b=$(run $1 $2 $3 1500 "$(free_port)")
  echo "$1 $(( (b - a) / 1000 )) instructions/request"
done
