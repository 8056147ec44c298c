#!/usr/bin/env bash
# W5 against vltava (fsync) with the flusher thread's fdatasync calls timed by strace.
set -uo pipefail
BIN=/tmp/lat-bin; PORT=19393; b=127.0.0.1:$PORT
d=/tmp/lat-run/diag-$$; rm -rf $d; mkdir -p $d
"$BIN/vltava" serve --listen "$b" --data-dir "$d/data" --flush always > "$d.log" 2>&1 &
pid=$!
timeout 40 "$BIN/vltava-bench-after" probe --bootstrap "$b" --timeout-s 30 > /dev/null
tids=$(grep -l vltava-flusher /proc/$pid/task/*/comm | cut -d/ -f5); tid=$(echo $tids)
echo "broker $pid flusher tid $tid" >&2
strace -T -e trace=fdatasync,fsync $(for t in $tids; do echo -p $t; done) -o /tmp/lat-run/diag-strace${SUF:-}.txt &
st=$!
sleep 1
load=$(cut -d' ' -f1 /proc/loadavg)
timeout 120 "$BIN/vltava-bench-after" e2e --bootstrap "$b" --topic d5 --rate 20000 --seconds 10 --record-bytes 1024 --acks all --linger-ms 0 --set linger.ms=${LINGER:-1} --json > /tmp/lat-run/diag-e2e${SUF:-}.json
kill $st; wait $st 2>/dev/null
kill $pid; wait $pid 2>/dev/null
rm -rf $d
echo "load1 $load"
python3 - <<'PY'
import re, json, os
suf=os.environ.get('SUF','')
ds=[float(m.group(1))*1000 for m in (re.search(r'<([0-9.]+)>', l) for l in open(f'/tmp/lat-run/diag-strace{suf}.txt')) if m]
ds.sort()
q=lambda p: ds[min(len(ds)-1,int(p*len(ds)))]
print(f"fdatasync calls {len(ds)} in the run, ms p50 {q(.5):.3f} p90 {q(.9):.3f} p99 {q(.99):.3f} p99.9 {q(.999):.3f} max {ds[-1]:.3f}, busy {sum(ds)/1000:.2f} s")
r=json.load(open(f'/tmp/lat-run/diag-e2e{suf}.json'))
print('e2e ms p50/p99/p999', [r['latency_us'][k]/1000 for k in ('p50','p99','p999')], 'ack', [r['ack_latency_us'][k]/1000 for k in ('p50','p99','p999')])
PY
