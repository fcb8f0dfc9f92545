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
#   SKIP_NOVERIFY=1    skip the second push+pull with --no-verify
#   DIST_BIN=...       Distribution binary (default /usr/bin/docker-registry)
#   TABLE_ONLY=1       run nothing: rebuild the tables from WORKDIR/results/raw-*.json
#   REGBENCH_SRC=...   regbench sources (default: ../shared/bench/regbench next to the repo,
#                      else /work/shared/bench/regbench)
#
# Sequence per run:
#   physical.sh                 disk (dd 2 GiB fdatasync) and nginx loopback ceilings
#   disk                        dd 1 GiB fdatasync: the volume of one push set (see README)
#   berth                       all phases, default log level (info: one line per request),
#                               authentication on, basic credentials on every request
#   berth-logwarn               BERTH_LOG=warn, phases small and tags
#   berth-noauth                --auth none, phase small: the cost of access control is the
#                               difference to `berth` (which authenticates every request)
#   distribution                all phases (log level info, its default)
#   berth-noverify, distribution-noverify
#                               push and pull again with --no-verify, so that the client does
#                               not hash what it pulls (curl against nginx does not either)
# Each registry gets a fresh data directory, removed after its run. A sampler records the
# server's largest anonymous and file-backed RSS over the whole run (SQLite maps its
# database file, which counts as RSS). Only 127.0.0.1 is used.
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
if [ -z "${SKIP_BUILD:-}" ] && [ -z "${TABLE_ONLY:-}" ]; then
  log "building berth (release)"
  (cd "$ROOT" && cargo build --release -p berth)
  log "building regbench"
  cargo build --release --manifest-path "$REGBENCH_SRC/Cargo.toml" --target-dir "$REGBENCH_TARGET"
fi
for bin in "$BERTH" "$REGBENCH" "$DIST_BIN"; do
  [ -x "$bin" ] || [ -n "${TABLE_ONLY:-}" ] || { log "missing binary $bin"; exit 1; }
done

# ------------------------------------------------------------------ one registry run
# Adds per-phase server figures (peak RSS, CPU) from regbench's "phases" section to its
# metrics, so compare.py puts them in the table.
augment() { # in.json out.json rss-sampler-file
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
try:
    anon, file = (int(x) for x in open(sys.argv[3]).read().split())
    d["metrics"].append({"name": "server_max_rss_anon_MiB", "value": anon / 1024, "unit": "MiB"})
    d["metrics"].append({"name": "server_max_rss_file_MiB", "value": file / 1024, "unit": "MiB"})
except (OSError, ValueError):
    pass
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

# Largest RssAnon / RssFile of a process until it exits, in KiB, written to OUT at the end.
# Pure bash (no fork per sample), so it costs the machine next to nothing.
rss_sampler() { # pid out
  local pid=$1 out=$2 anon=0 file=0 k v _
  while [ -r "/proc/$pid/status" ]; do
    while read -r k v _; do
      case $k in
        RssAnon:) [ "$v" -gt "$anon" ] && anon=$v ;;
        RssFile:) [ "$v" -gt "$file" ] && file=$v ;;
      esac
    done < "/proc/$pid/status" 2>/dev/null || break
    [ -f "$out.stop" ] && break
    sleep 0.05
  done
  echo "$anon $file" > "$out"
}

run_regbench() { # label pid port phases
  local label=$1 pid=$2 port=$3 phases=$4 rc=0 sampler rss
  # A separate statement: `local` expands all its words before assigning any of them.
  rss="$LOGS/rss-${label/\#/-}"
  shift 4
  rss_sampler "$pid" "$rss" &
  sampler=$!
  log "regbench $label (phases $phases; load $(cut -d' ' -f1-3 /proc/loadavg))"
  # In the background so that a signal reaches the trap at once (bash defers traps while a
  # foreground child runs) and the cleanup can stop it.
  # shellcheck disable=SC2086 # REGBENCH_ARGS is a list of flags on purpose
  setsid "$REGBENCH" --url "http://127.0.0.1:$port" --pid "$pid" --label "$label" \
    --phases "$phases" --out "$RESULTS/raw-${label/\#/-}.json" ${REGBENCH_ARGS:-} "$@" \
    > "$LOGS/regbench-${label/\#/-}.out" 2> "$LOGS/regbench-${label/\#/-}.err" &
  STARTED+=("$!")
  wait "$!" || rc=$?
  touch "$rss.stop"
  wait "$sampler" || true
  if [ "$rc" -eq 1 ] || [ ! -f "$RESULTS/raw-${label/\#/-}.json" ]; then
    log "regbench $label failed (rc $rc); see $LOGS/regbench-${label/\#/-}.err"
    tail -n 5 "$LOGS/regbench-${label/\#/-}.err" >&2
    return 0
  fi
  if [ "$rc" -eq 2 ]; then
    log "regbench $label finished with errors; see $LOGS/regbench-${label/\#/-}.err"
  fi
  augment "$RESULTS/raw-${label/\#/-}.json" "$RESULTS/${label/\#/-}.json" "$rss"
}

bench_berth() { # run label log-level phases [regbench args]; AUTH_MODE=token|none (default token)
  local run=$1 label=$2 level=$3 phases=$4 port dir pid creds=()
  shift 4
  port=$(free_port)
  dir="$WORK/$label-$run"
  mkdir -p "$dir"
  BERTH_LOG=$level setsid "$BERTH" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" \
    --auth "${AUTH_MODE:-token}" 2> "$LOGS/$label-$run.log" &
  pid=$!
  STARTED+=("$pid")
  wait_ready "http://127.0.0.1:$port/v2/" "$pid"
  # With authentication on, the client logs in as the owner created at first start
  # (regbench sends basic credentials on every request).
  if [ -f "$dir/data/owner-password" ]; then
    creds=(--user owner --password "$(cat "$dir/data/owner-password")")
  fi
  run_regbench "$label#$run" "$pid" "$port" "$phases" "${creds[@]}" "$@"
  stop "$pid"
  du -sh "$dir/data" > "$LOGS/$label-$run.du" 2>/dev/null || true
  rm -rf "$dir"
}

bench_distribution() { # run label phases [regbench args]
  local run=$1 label=$2 phases=$3 port dir pid
  shift 3
  port=$(free_port)
  dir="$WORK/$label-$run"
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
    > "$LOGS/$label-$run.log" 2>&1 &
  pid=$!
  STARTED+=("$pid")
  wait_ready "http://127.0.0.1:$port/v2/" "$pid"
  run_regbench "$label#$run" "$pid" "$port" "$phases" "$@"
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

# dd of 1 GiB with fdatasync, the volume of one big push set (4 x 256 MiB): on a disk with a
# write-back cache in front (as on this VM) the rate depends strongly on the volume written.
bench_disk() { # run
  local run=$1 f="$WORK/dd-$run.bin" rate
  rate=$(dd if=/dev/zero of="$f" bs=1M count=1024 conv=fdatasync 2>&1 \
    | awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "bytes") b = $(i - 1);
                     for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) s = $(i - 1);
                     gsub(",", ".", s); printf "%.1f", b / 1048576 / s}')
  rm -f "$f"
  python3 -c 'import json, sys; json.dump({"tool": "dd", "label": sys.argv[1], "metrics": [
    {"name": "disk_write_fdatasync_1GiB_MiBps", "value": float(sys.argv[2]), "unit": "MiB/s"}]},
    open(sys.argv[3], "w"))' "disk#$run" "$rate" "$RESULTS/disk-$run.json"
}

# ------------------------------------------------------------------ main
if [ -n "${TABLE_ONLY:-}" ]; then
  for raw in "$RESULTS"/raw-*.json; do
    name=${raw##*/raw-}
    augment "$raw" "$RESULTS/$name" "$LOGS/rss-${name%.json}"
  done
else
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
    if [ -z "${SKIP_PHYSICAL:-}" ]; then
      bench_physical "$run"
      bench_disk "$run"
    fi
    bench_berth "$run" berth info "$PHASES"
    warn_phases=$(tr ',' '\n' <<< "$PHASES" | grep -xE 'small|tags' | paste -sd, -)
    [ -z "$warn_phases" ] || bench_berth "$run" berth-logwarn warn "$warn_phases"
    if [[ ",$PHASES," == *",small,"* ]]; then
      AUTH_MODE=none bench_berth "$run" berth-noauth info small
    fi
    [ -n "${SKIP_DIST:-}" ] || bench_distribution "$run" distribution "$PHASES"
    if [[ ",$PHASES," == *",pull,"* ]] && [ -z "${SKIP_NOVERIFY:-}" ]; then
      bench_berth "$run" berth-noverify info push,pull --no-verify
      [ -n "${SKIP_DIST:-}" ] ||
        bench_distribution "$run" distribution-noverify push,pull --no-verify
    fi
  done
  echo "load at end: $(cat /proc/loadavg)" >> "$RESULTS/env.txt"
fi

# ------------------------------------------------------------------ tables
shopt -s nullglob
FILES=("$RESULTS"/berth-[0-9]*.json "$RESULTS"/berth-logwarn-*.json \
       "$RESULTS"/berth-noverify-*.json "$RESULTS"/distribution-[0-9]*.json \
       "$RESULTS"/distribution-noverify-*.json "$RESULTS"/physical-*.json "$RESULTS"/disk-*.json)
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

for g, how in (("berth-noverify", "no client sha256, like curl"),
               ("berth", "client verifies sha256")):
    pull = med(g, "pull_big_c1_MiBps")
    for sf in ("on", "off"):
        ng = p(f"nginx_loopback_sendfile_{sf}_MiBps")
        r = ratio(pull, ng)
        row(f"pull 256 MiB blobs, 1 client >= 80% of nginx sendfile {sf} ({how})",
            f"{fmt(pull)} / {fmt(ng)} MiB/s = {fmt(r and r * 100)}%",
            None if r is None else r >= 0.8)
for mode in ("mono_big", "chunked_big"):
    v = b(f"push_{mode}_MiBps")
    for disk, what in ((p("disk_write_fdatasync_MiBps"), "dd 2 GiB fdatasync"),
                       (med("disk", "disk_write_fdatasync_1GiB_MiBps"), "dd 1 GiB fdatasync")):
        r = ratio(v, disk)
        row(f"push {mode.replace('_', ' ')} >= 90% of {what}",
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
for g, note in (("berth", "log info"), ("berth-logwarn", "BERTH_LOG=warn")):
    w = med(g, "tags_list_n100_walk_ms")
    row(f"walk 10,000 tags in pages of 100 < 50 ms ({note})",
        f"{fmt(w)} ms (Distribution {fmt(d('tags_list_n100_walk_ms'))} ms, one page: it ignores n)",
        None if w is None else w < 50)
rss = b("pull_big_c32_server_peak_rss_MiB")
row("peak server RSS < 64 MiB, 32 clients pulling 256 MiB blobs",
    f"{fmt(rss)} MiB (Distribution {fmt(d('pull_big_c32_server_peak_rss_MiB'))} MiB)",
    None if rss is None else rss < 64)
anon = b("server_max_rss_anon_MiB")
row("(context) largest anonymous RSS over the whole berth run",
    f"{fmt(anon)} MiB anon + {fmt(b('server_max_rss_file_MiB'))} MiB file-backed "
    f"(Distribution {fmt(d('server_max_rss_anon_MiB'))} MiB anon)", None)
print("| target | measured (median) | verdict |")
print("|---|---|---|")
print("\n".join(rows))
PY
  echo
  echo "## All figures"
  echo
  python3 "$REGBENCH_SRC/compare.py" --baseline "$BASE" \
    --groups "berth,berth-logwarn,berth-noverify,distribution,distribution-noverify,physical,disk" \
    "${FILES[@]}"
} > "$RESULTS/table.md"
cat "$RESULTS/table.md"
log "results in $RESULTS (table.md, env.txt, per-run JSON); logs in $LOGS"
