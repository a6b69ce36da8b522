#!/usr/bin/env bash
# Run pytest while every core is kept busy, to find tests that wait wrongly before CI's busy machine does.
#
#   bash scripts/test-under-load.sh [--procs N] [--repeat N] [pytest args...]
#
# --procs N   busy processes to run beside the tests (default: one per core, `nproc`). Each is a plain
#             CPU-bound loop at normal priority, as a benchmark or a second test run would be.
# --repeat N  run pytest N times (default 1) and count the runs that failed; each failed run's output is
#             kept in $LOAD_LOG_DIR (default: a new directory under /tmp), named run-K.log.
# Everything else goes to pytest, e.g. `tests/test_signed_acks.py -x -q -p no:randomly`.
#
# The busy processes are ended when the runs end, on Ctrl-C and on any error; the load average is
# printed before, between and after the runs. Exit status: 0 if every run passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

procs=$(nproc)
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --procs) procs="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) break ;;
  esac
done
case "$procs$repeat" in *[!0-9]*) echo "--procs and --repeat take whole numbers" >&2; exit 2 ;; esac
if [ "$repeat" -lt 1 ]; then echo "--repeat takes a whole number of at least 1" >&2; exit 2; fi

busy=()
stop_load() {
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${busy[@]}"; do wait "$pid" 2>/dev/null || true; done
  busy=()
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT
trap 'stop_load; exit 143' TERM

for _ in $(seq 1 "$procs"); do
  ( trap - INT TERM; while :; do :; done ) &
  busy+=("$!")
done
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "[load] $procs busy process(es) on $(nproc) core(s); load average $(loadavg)"

export LANG=zh_CN.UTF-8 LC_ALL=zh_CN.UTF-8 QT_QPA_PLATFORM=offscreen
logs=${LOAD_LOG_DIR:-$(mktemp -d /tmp/test-under-load.XXXXXX)}
mkdir -p "$logs"
failed=0
for run in $(seq 1 "$repeat"); do
  log="$logs/run-$run.log"
  if [ "$repeat" -eq 1 ]; then
    status=0
    .venv/bin/python -m pytest "$@" 2>&1 | tee "$log" || status=$?
    [ "$status" -eq 0 ] || failed=1
  elif .venv/bin/python -m pytest "$@" >"$log" 2>&1; then
    rm -f "$log"
    echo "[load] run $run/$repeat passed (load average $(loadavg))"
  else
    failed=$((failed + 1))
    echo "[load] run $run/$repeat FAILED (load average $(loadavg)); output: $log"
  fi
done
echo "[load] $((repeat - failed))/$repeat run(s) passed; load average $(loadavg); logs in $logs"
[ "$failed" -eq 0 ]
