#!/usr/bin/env bash
# Benchmark berth against CNCF Distribution (Debian's docker-registry) and the machine's
# physical ceilings (disk, nginx on loopback), with the shared regbench tool.
#
# usage: bench/run.sh [WORKDIR]
#   WORKDIR            where every temporary file goes (default: a new mktemp -d); results
#                      end up in WORKDIR/results, the tables in WORKDIR/results/table.md
# environment:
#   RUNS=N             repetitions of the whole sequence (default 1); compare.py shows
#                      every run and the median
#   REGBENCH_ARGS=...  extra regbench flags for every registry run (e.g. the smoke sizes
#                      from regbench's README); default: regbench's defaults
#   PHASES=...         regbench phases (default: push,pull,small,tags,catalog)
#   SKIP_BUILD=1       use the existing binaries instead of building them
#   SKIP_PHYSICAL=1    do not run physical.sh (the targets table then lacks ceilings)
#   SKIP_DIST=1        do not run Distribution
#   DIST_BIN=...       Distribution binary (default /usr/bin/docker-registry)
#   REGBENCH_SRC=...   regbench sources (default: ../shared/bench/regbench next to the repo,
#                      else /work/shared/bench/regbench)
#
# Sequence per run: physical.sh, berth (all phases, default log level info), berth with
# BERTH_LOG=warn (small phase only), Distribution (all phases). Each registry gets a fresh
# data directory, which is removed after its run. Only 127.0.0.1 is used.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-$(mktemp -d -t berth-bench.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RUNS=${RUNS:-1}
PHASES=${PHASES:-push,pull,small,tags,catalog}
DIST_BIN=${DIST_BIN:-/usr/bin/docker-registry}
if [ -z "${REGBENCH_SRC:-}" ]; then
  if [ -f "$ROOT/../shared/bench/regbench/Cargo.toml" ]; then
    REGBENCH_SRC=$(cd "$ROOT/../shared/bench/regbench" && pwd)
  else
    REGBENCH_SRC=/work/shared/bench/regbench
  fi
fi
RESULTS="$WORK/results"
LOGS="$WORK/logs"
mkdir -p "$RESULTS" "$LOGS"

# ------------------------------------------------------------------ cleanup
# Every background process is started with setsid, so its pid is also its process group and
# one kill reaches whatever it spawned (nginx workers under physical.sh, for instance).
STARTED=()
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${STARTED[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # url pid
  local i
  for i in $(seq 1 200); do
    if ! kill -0 "$2" 2>/dev/null; then
      log "server $2 died before answering $1"; return 1
    fi
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  log "server did not answer $1"; return 1
}

stop() { # pid
  kill -TERM -- "-$1" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
}

# ------------------------------------------------------------------ build
REGBENCH_TARGET="$ROOT/target/regbench"
BERTH="$ROOT/target/release/berth"
REGBENCH="$REGBENCH_TARGET/release/regbench"
if [ -z "${SKIP_BUILD:-}" ]; then
  log "building berth (release)"
  (cd "$ROOT" && cargo build --release -p berth)
  log "building regbench"
  cargo build --release --manifest-path "$REGBENCH_SRC/Cargo.toml" --target-dir "$REGBENCH_TARGET"
fi
for bin in "$BERTH" "$REGBENCH" "$DIST_BIN"; do
  [ -x "$bin" ] || { log "missing binary $bin"; exit 1; }
done

# ------------------------------------------------------------------ one registry run
# Adds per-phase server figures (peak RSS, CPU) from regbench's "phases" section to its
# metrics, so compare.py puts them in the table.
augment() { # in.json out.json
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, p in d.get("phases", {}).items():
    if not (name.startswith("pull_") or name.startswith("push_") or name.startswith("small_")):
        continue
    if p.get("server_peak_rss_kib") is not None:
        d["metrics"].append({"name": f"{name}_server_peak_rss_MiB",
                             "value": p["server_peak_rss_kib"] / 1024, "unit": "MiB"})
    if p.get("server_cpu_util") is not None and name.startswith("small_"):
        d["metrics"].append({"name": f"{name}_server_cpu_cores",
                             "value": p["server_cpu_util"], "unit": "cores"})
if d.get("errors"):
    d["metrics"].append({"name": "regbench_errors", "value": len(d["errors"]), "unit": "count"})
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
}

run_regbench() { # label pid port phases
  local label=$1 pid=$2 port=$3 phases=$4 rc=0
  log "regbench $label (phases $phases; load $(cut -d' ' -f1-3 /proc/loadavg))"
  # In the background so that a signal reaches the trap at once (bash defers traps while a
  # foreground child runs) and the cleanup can stop it.
  # shellcheck disable=SC2086 # REGBENCH_ARGS is a list of flags on purpose
  setsid "$REGBENCH" --url "http://127.0.0.1:$port" --pid "$pid" --label "$label" \
    --phases "$phases" --out "$RESULTS/raw-${label/\#/-}.json" ${REGBENCH_ARGS:-} \
    > "$LOGS/regbench-${label/\#/-}.out" 2> "$LOGS/regbench-${label/\#/-}.err" &
  STARTED+=("$!")
  wait "$!" || rc=$?
  if [ "$rc" -eq 1 ] || [ ! -f "$RESULTS/raw-${label/\#/-}.json" ]; then
    log "regbench $label failed (rc $rc); see $LOGS/regbench-${label/\#/-}.err"
    tail -n 5 "$LOGS/regbench-${label/\#/-}.err" >&2
    return 0
  fi
  [ "$rc" -eq 2 ] && log "regbench $label finished with errors; see $LOGS/regbench-${label/\#/-}.err"
  augment "$RESULTS/raw-${label/\#/-}.json" "$RESULTS/${label/\#/-}.json"
}

bench_berth() { # run label log-level phases
  local run=$1 label=$2 level=$3 phases=$4 port dir pid
  port=$(free_port)
  dir="$WORK/$label-$run"
  mkdir -p "$dir"
  BERTH_LOG=$level setsid "$BERTH" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" \
    2> "$LOGS/$label-$run.log" &
  pid=$!
  STARTED+=("$pid")
  wait_ready "http://127.0.0.1:$port/v2/" "$pid"
  run_regbench "$label#$run" "$pid" "$port" "$phases"
  stop "$pid"
  du -sh "$dir/data" > "$LOGS/$label-$run.du" 2>/dev/null || true
  rm -rf "$dir"
}

bench_distribution() { # run
  local run=$1 port dir pid
  port=$(free_port)
  dir="$WORK/distribution-$run"
  mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: regbench-not-a-secret
  headers:
    X-Content-Type-Options: [nosniff]
YML
  setsid "$DIST_BIN" serve "$dir/config.yml" \
    > "$LOGS/distribution-$run.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  wait_ready "http://127.0.0.1:$port/v2/" "$pid"
  run_regbench "distribution#$run" "$pid" "$port" "$PHASES"
  stop "$pid"
  rm -rf "$dir"
}

bench_physical() { # run
  local run=$1 port
  port=$(free_port)
  log "physical.sh (disk and nginx loopback ceilings)"
  setsid "$REGBENCH_SRC/physical.sh" "$RESULTS/physical-$run.json" "$WORK/physical-$run" \
    "physical#$run" "$port" > "$LOGS/physical-$run.out" 2>&1 &
  STARTED+=("$!")
  wait "$!" || log "physical.sh failed; see $LOGS/physical-$run.out"
  rm -rf "$WORK/physical-$run"
}

# ------------------------------------------------------------------ main
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(nproc) cpus, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
       "$(uname -sr)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "berth: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
       "$(cd "$ROOT" && git status --porcelain 2>/dev/null | grep -q . && echo '(dirty tree)')"
  echo "distribution: $("$DIST_BIN" --version 2>/dev/null)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "runs: $RUNS; regbench extra args: ${REGBENCH_ARGS:-none}; phases: $PHASES"
  echo "load at start: $(cat /proc/loadavg)"
} > "$RESULTS/env.txt"
log "work directory: $WORK"

for run in $(seq 1 "$RUNS"); do
  [ -n "${SKIP_PHYSICAL:-}" ] || bench_physical "$run"
  bench_berth "$run" berth info "$PHASES"
  if [[ ",$PHASES," == *",small,"* ]]; then
    bench_berth "$run" berth-logwarn warn small
  fi
  [ -n "${SKIP_DIST:-}" ] || bench_distribution "$run"
done
echo "load at end: $(cat /proc/loadavg)" >> "$RESULTS/env.txt"

# ------------------------------------------------------------------ tables
shopt -s nullglob
FILES=("$RESULTS"/berth-[0-9]*.json "$RESULTS"/berth-logwarn-*.json \
       "$RESULTS"/distribution-*.json "$RESULTS"/physical-*.json)
if [ "${#FILES[@]}" -eq 0 ]; then
  log "no results"; exit 1
fi
BASE=distribution
[ -n "${SKIP_DIST:-}" ] && BASE=berth
{
  echo "## Targets"
  echo
  python3 - "${FILES[@]}" <<'PY'
import json, statistics, sys
groups = {}
for f in sys.argv[1:]:
    d = json.load(open(f))
    g = d.get("label", f).split("#")[0]
    for m in d.get("metrics", []):
        if m["value"] is not None:
            groups.setdefault(g, {}).setdefault(m["name"], []).append(m["value"])

def med(g, name):
    vals = groups.get(g, {}).get(name)
    return statistics.median(vals) if vals else None

def fmt(v, unit=""):
    return "n/a" if v is None else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}") + unit

rows = []
def row(target, measured, ok):
    verdict = "n/a" if ok is None else ("met" if ok else "**not met**")
    rows.append(f"| {target} | {measured} | {verdict} |")

def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b

b = lambda n: med("berth", n)
d = lambda n: med("distribution", n)
p = lambda n: med("physical", n)

pull = b("pull_big_c1_MiBps")
for sf in ("on", "off"):
    ng = p(f"nginx_loopback_sendfile_{sf}_MiBps")
    r = ratio(pull, ng)
    row(f"pull 256 MiB blob, 1 client >= 80% of nginx (sendfile {sf})",
        f"{fmt(pull)} / {fmt(ng)} MiB/s = {fmt(r and r * 100)}%",
        None if r is None else r >= 0.8)
disk = p("disk_write_fdatasync_MiBps")
for mode in ("mono_big", "chunked_big"):
    v = b(f"push_{mode}_MiBps")
    r = ratio(v, disk)
    row(f"push {mode.replace('_', ' ')} >= 90% of dd fdatasync",
        f"{fmt(v)} / {fmt(disk)} MiB/s = {fmt(r and r * 100)}%",
        None if r is None else r >= 0.9)
    c, dc = b(f"push_{mode}_server_cpu_s_per_GiB"), d(f"push_{mode}_server_cpu_s_per_GiB")
    row(f"push {mode.replace('_', ' ')} < 2 server CPU-s/GiB",
        f"{fmt(c)} (Distribution {fmt(dc)})", None if c is None else c < 2)
for src, rps, p99 in (("regbench", "small_manifest_get_tag_rps", "small_manifest_get_tag_p99_ms"),
                      ("wrk", "wrk_manifest_get_tag_rps", "wrk_manifest_get_tag_p99_ms")):
    for g, note in (("berth", "log info"), ("berth-logwarn", "BERTH_LOG=warn")):
        r = ratio(med(g, rps), d(rps))
        row(f"manifest GET by tag >= 5x Distribution req/s ({src}, {note})",
            f"{fmt(med(g, rps))} vs {fmt(d(rps))} req/s = {fmt(r)}x",
            None if r is None else r >= 5)
        r = ratio(med(g, p99), d(p99))
        row(f"manifest GET p99 <= 1/3 of Distribution's ({src}, {note})",
            f"{fmt(med(g, p99))} vs {fmt(d(p99))} ms = {fmt(r)}x",
            None if r is None else r <= 1 / 3)
w = b("tags_list_n100_walk_ms")
row("walk 10,000 tags in pages of 100 < 50 ms",
    f"{fmt(w)} ms (Distribution {fmt(d('tags_list_n100_walk_ms'))} ms)",
    None if w is None else w < 50)
rss = b("pull_big_c32_server_peak_rss_MiB")
row("peak server RSS < 64 MiB, 32 clients pulling 256 MiB blobs",
    f"{fmt(rss)} MiB (Distribution {fmt(d('pull_big_c32_server_peak_rss_MiB'))} MiB)",
    None if rss is None else rss < 64)
print("| target | measured (median) | verdict |")
print("|---|---|---|")
print("\n".join(rows))
PY
  echo
  echo "## All figures"
  echo
  python3 "$REGBENCH_SRC/compare.py" --baseline "$BASE" \
    --groups "berth,berth-logwarn,distribution,physical" "${FILES[@]}"
} > "$RESULTS/table.md"
cat "$RESULTS/table.md"
log "results in $RESULTS (table.md, env.txt, per-run JSON); logs in $LOGS"
