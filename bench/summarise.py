#!/usr/bin/env python3
"""Table of medians from bench/run-single's results.jsonl (one JSON object per line)."""

import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
runs = defaultdict(list)
single = {}
for row in rows:
    if "rep" in row:
        runs[(row["system"], row["test"])].append(row)
    else:
        single[(row["system"], row["test"])] = row["result"]


def med(values):
    return statistics.median(values) if values else float("nan")


def summary(system, test):
    rs = runs.get((system, test), [])
    if not rs:
        return None
    out = {
        "n": len(rs),
        "records_per_s": med([r["result"]["records_per_s"] for r in rs]),
        "mb_per_s": med([r["result"]["mb_per_s"] for r in rs]),
        "all_records_per_s": sorted(round(r["result"]["records_per_s"]) for r in rs),
        "broker_cpu": med([r["broker_cpu_s"] / max(r["result"]["elapsed_s"], 1e-9) for r in rs]),
        "client_cpu": med([r["client_cpu_s"] / max(r["result"]["elapsed_s"], 1e-9) for r in rs]),
    }
    if "latency_us" in rs[0]["result"]:
        for q in ("p50", "p99", "p999", "max"):
            out[q] = med([r["result"]["latency_us"][q] for r in rs])
        out["failed"] = sum(r["result"]["records_failed"] for r in rs)
        out["acked"] = [r["result"]["records_acked"] for r in rs]
    return out


def fmt_ms(us):
    return f"{us / 1000:.1f}"


print("| system | test | records/s (median) | MB/s | runs (records/s) | p50 ms | p99 ms | p99.9 ms | max ms | broker CPU (cores) | client CPU (cores) |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
order = [("vltava", "acks1"), ("vltava", "acksall"), ("vltava-flush-never", "acksall"), ("vltava", "consume"),
         ("kafka", "acks1"), ("kafka", "acksall"), ("kafka", "consume")]
for system, test in order:
    s = summary(system, test)
    if s is None:
        continue
    lat = [fmt_ms(s[q]) if q in s else "" for q in ("p50", "p99", "p999", "max")]
    print(f"| {system} | {test} | {s['records_per_s']:,.0f} | {s['mb_per_s']:.1f} | {s['all_records_per_s']} | "
          + " | ".join(lat) + f" | {s['broker_cpu']:.2f} | {s['client_cpu']:.2f} |")

print()
print("| ratio vltava / Kafka | records/s | p99 latency |")
print("|---|---:|---:|")
for v, k, label in [(("vltava", "acks1"), ("kafka", "acks1"), "acks=1"),
                    (("vltava", "acksall"), ("kafka", "acksall"), "acks=all (vltava fsyncs, Kafka does not)"),
                    (("vltava-flush-never", "acksall"), ("kafka", "acksall"), "acks=all, vltava --flush never"),
                    (("vltava", "consume"), ("kafka", "consume"), "consume")]:
    a, b = summary(*v), summary(*k)
    if a and b:
        p99 = f"{a['p99'] / b['p99']:.2f}" if "p99" in a else ""
        print(f"| {label} | {a['records_per_s'] / b['records_per_s']:.2f} | {p99} |")

print()
for system in ("vltava", "kafka"):
    st = single.get((system, "startup"))
    if st:
        print(f"{system}: start → first Metadata median {st['ready_ms_median']:.1f} ms "
              f"(runs {[round(r['ready_ms'], 1) for r in st['runs']]}), idle RSS after start "
              f"{st['idle_rss_kib_median'] / 1024:.1f} MiB")
for system in ("vltava", "vltava-flush-never", "kafka"):
    idle, rss = single.get((system, "idle-rss")), single.get((system, "rss"))
    if idle and rss:
        print(f"{system}: RSS idle {idle['kib'] / 1024:.1f} MiB, peak (VmHWM) {rss['peak_kib'] / 1024:.1f} MiB")
for test in ("append-4k-fdatasync", "seq-1m-fdatasync"):
    d = single.get(("disk", test))
    if d:
        print(f"disk {test}: {json.dumps(d)}")
