#!/usr/bin/env bash
# Used for latency-2026-11-30.md. Binaries are stable copies in /tmp/lat-bin: vltava (the broker
# under test), vltava-inflight256 (run 4 only), vltava-bench-before (2791291) / -after (4c39333).
# Usage: OUT=x.jsonl SYSTEMS="kafka vltava vltava-nofsync" WORKLOADS="w5-after-l1 p900k-after-l1" ./run.sh
# Summary: python3 summary.py x.jsonl [per-run]
# One measurement round: for each rep, for each system (alternating), start a fresh broker and
# run every workload against it. Output: JSON lines in $OUT.
set -uo pipefail
BIN=/tmp/lat-bin
KREF=/work/main/scripts/kafka-reference
OUT=${OUT:-/tmp/lat-run/results.jsonl}
WORK=${WORK:-/tmp/lat-run/work}
REPS=${REPS:-3}
SYSTEMS=${SYSTEMS:-"kafka vltava vltava-nofsync"}
WORKLOADS=${WORKLOADS:-"w5-before-l1 w5-after-l1 w5-after-l0 p20k-after-l0 p20k-after-l1 p900k-before-l1 p900k-after-l1 p900k-after-l0"}
PORT=${PORT:-19392}
mkdir -p "$WORK"
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cmd_for() { # WORKLOAD BOOTSTRAP TOPIC
  local w=$1 b=$2 t=$3 bench
  case $w in *-before-*) bench=$BIN/vltava-bench-before ;; *) bench=$BIN/vltava-bench-after ;; esac
  local linger=${w##*-l} lflag
  # --linger-ms takes whole ms; a fraction goes to librdkafka directly (linger.ms is a double).
  if [[ $linger == *.* ]]; then lflag="--linger-ms 0 --set linger.ms=$linger"; else lflag="--linger-ms $linger"; fi
  case $w in
    w5-*) echo "$bench e2e --bootstrap $b --topic $t --rate 20000 --seconds 10 --record-bytes 1024 --acks all $lflag --json" ;;
    p20k-*) echo "$bench produce --bootstrap $b --topic $t --records 200000 --rate 20000 --record-bytes 100 --acks all --partitions 1 $lflag --duration-s-max 60 --json" ;;
    p900k-*) echo "$bench produce --bootstrap $b --topic $t --records 9000000 --rate 900000 --record-bytes 100 --acks all --partitions 1 $lflag --duration-s-max 60 --json" ;;
  esac
}
for rep in $(seq 1 "$REPS"); do
  for s in $SYSTEMS; do
    d="$WORK/$s-$rep-$$"; rm -rf "$d"; mkdir -p "$d"
    b=127.0.0.1:$PORT
    case $s in
      kafka) pid=$("$KREF" start --dir "$d" --port "$PORT" 2>"$d.start.log") || { echo "kafka start failed" >&2; continue; } ;;
      vltava|vltava-nofsync|vltava-i256)
        flush=always; [[ $s == vltava-nofsync ]] && flush=never; vbin=$BIN/vltava; [[ $s == vltava-i256 ]] && vbin=$BIN/vltava-inflight256
        "$vbin" serve --listen "$b" --data-dir "$d/data" --flush "$flush" > "$d.log" 2>&1 &
        pid=$!
        timeout 40 "$BIN/vltava-bench-after" probe --bootstrap "$b" --timeout-s 30 > /dev/null || { echo "vltava start failed" >&2; kill "$pid"; continue; } ;;
    esac
    for w in $WORKLOADS; do
      c=$(cmd_for "$w" "$b" "$w-$rep")
      before=$(cpu_ticks "$pid"); load=$(cut -d' ' -f1 /proc/loadavg)
      /usr/bin/time -f '%U %S %e' -o "$WORK/time.txt" timeout 120 $c > "$WORK/out.json" 2> "$WORK/err.txt"
      rc=$?
      after=$(cpu_ticks "$pid")
      read -r u sy e < "$WORK/time.txt" || true
      json=$(tail -1 "$WORK/out.json"); [[ $json == \{* ]] || json=null
      echo "{\"system\":\"$s\",\"rep\":$rep,\"workload\":\"$w\",\"rc\":$rc,\"load1\":$load,\"broker_cpu_s\":$(( after - before ))e-2,\"client_cpu_s\":$(echo "$u + $sy" | bc),\"wall_s\":$e,\"result\":$json}" >> "$OUT"
      echo "$(date +%T) $s rep $rep $w rc=$rc" >&2
    done
    case $s in
      kafka) "$KREF" stop --dir "$d" > /dev/null 2>&1 ;;
      *) kill "$pid"; wait "$pid" 2>/dev/null ;;
    esac
    rm -rf "$d"
  done
done
