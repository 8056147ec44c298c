import json, sys, statistics as st
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
g = defaultdict(list)
for r in rows:
    g[(r['workload'], r['system'])].append(r)
def med(xs):
    xs = [x for x in xs if x is not None]
    return st.median(xs) if xs else float('nan')
print("| workload | system | n | p50 ms | p99 ms | p99.9 ms | ack p50/p99 ms | rec/s | client cores | broker cores | lag max ms | load1 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (w, s), rs in sorted(g.items()):
    ok = [r for r in rs if r['result']]
    L = lambda k: med([r['result']['latency_us'][k]/1000 for r in ok])
    A = lambda k: med([r['result']['ack_latency_us'][k]/1000 for r in ok if 'ack_latency_us' in r['result']])
    cc = med([r['client_cpu_s']/r['wall_s'] for r in rs if r['wall_s']])
    bc = med([r['broker_cpu_s']/r['wall_s'] for r in rs if r['wall_s']])
    lag = med([r['result'].get('schedule_lag_max_us', None) and r['result']['schedule_lag_max_us']/1000 for r in ok])
    rate = med([r['result']['records_per_s'] for r in ok])
    ld = med([r['load1'] for r in rs])
    ack = f"{A('p50'):.2f} / {A('p99'):.2f}" if w.startswith('w5') else ""
    print(f"| {w} | {s} | {len(ok)}/{len(rs)} | {L('p50'):.2f} | {L('p99'):.2f} | {L('p999'):.2f} | {ack} | {rate:,.0f} | {cc:.2f} | {bc:.2f} | {lag:.2f} | {ld:.1f} |")
if len(sys.argv) > 2:
    for (w, s), rs in sorted(g.items()):
        for r in rs:
            x = r['result']
            if x: print(w, s, r['rep'], 'p50/p99/p999', x['latency_us']['p50'], x['latency_us']['p99'], x['latency_us']['p999'], 'cores', round(r['client_cpu_s']/r['wall_s'],2), 'load', r['load1'])
