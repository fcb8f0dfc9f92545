#!/usr/bin/env bash
# Listings at scale: one repository with 100,000 tags, then the latency of the tag
# listings a person or a tool asks for (`berth repository show-tags --top 10`, a page of
# `/v2/<name>/tags/list` from the middle and from the end, every order of the management
# API, a page deep in a time-ordered listing). Target: each under 50 ms.
#
# usage: bench/tags-at-scale.sh [WORKDIR]
#   WORKDIR          data directory, server log and results (default: a new mktemp -d)
# environment:
#   TAGS=N           tags to create (default 100000)
#   WORKERS=N        parallel keep-alive connections while seeding (default 4)
#   REPEAT=N         sequential requests per query, after 20 warm-up requests (default 200)
#   BERTH_LOG=...    the server's log level (default info, as deployed)
#   SKIP_BUILD=1     use the existing target/release/berth
#   KEEP=1           keep the server running with its data at the end (prints its pid)
#
# The server runs with authentication on; the owner's password is read from
# <data-dir>/owner-password and sent as basic credentials on every request. Tags are
# created through the real `/v2/` API (PUT of one small manifest under each name), so the
# database holds what a push leaves behind. Only 127.0.0.1 is used.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-$(mktemp -d -t berth-tags.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DATA="$WORK/data"
rm -rf "$DATA"
mkdir -p "$DATA"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  log "building berth (release)"
  (cd "$ROOT" && cargo build --release -p berth --quiet)
fi
BIN="$ROOT/target/release/berth"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BERTH_LOG=${BERTH_LOG:-info} setsid "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
  2>"$WORK/server.log" &
PID=$!
stop() {
  if [ -z "${KEEP:-}" ]; then
    kill -TERM -- "-$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  else
    log "server still running: pid $PID, http://127.0.0.1:$PORT, data $DATA"
  fi
}
trap stop EXIT

for _ in $(seq 100); do
  [ -s "$DATA/owner-password" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break
  sleep 0.1
done

log "server pid $PID on 127.0.0.1:$PORT, data in $DATA"
python3 "$ROOT/bench/tags_at_scale.py" \
  --base "http://127.0.0.1:$PORT" \
  --password-file "$DATA/owner-password" \
  --tags "${TAGS:-100000}" \
  --workers "${WORKERS:-4}" \
  --repeat "${REPEAT:-200}" \
  --server-pid "$PID" \
  | tee "$WORK/results.md"
log "results in $WORK/results.md; database $DATA/berth.db"
