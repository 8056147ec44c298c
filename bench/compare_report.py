#!/usr/bin/env python3
"""The table of bench/compare: medians per system and workload, ratios to Kafka, and each
throughput as a fraction of the machine's limits measured in the same run.

    compare_report.py WORK/results.jsonl > summary.md

Standard library only. Every figure is a median over the repetitions; the spread is listed.
"""

import json
import statistics
import sys
from collections import defaultdict

BASE = "kafka"
SYSTEM_ORDER = ["kafka", "vltava", "vltava-nofsync", "tansu"]
LABEL = {
    "kafka": "Kafka 4.4.0 (no fsync)",
    "vltava": "vltava (fsync)",
    "vltava-nofsync": "vltava --flush never",
    "tansu": "Tansu (SQLite)",
}
THROUGHPUT = [
    ("W1", "1 producer, 100 B, 1 partition, acks=1"),
    ("W2", "1 producer, 100 B, 1 partition, acks=all"),
    ("W3", "4 producers, 1 KiB, 8 partitions, acks=all, lz4"),
    ("W4", "catch-up read, 100 B, from the start"),
    ("KP", "Kafka ProducerPerformance, 100 B, Java defaults (acks=all)"),
    ("KC", "Kafka ConsumerPerformance, reading KP's topic"),
    ("W8", "at the wire: 4 connections × 1 partition, 100 B, 1,000/batch, acks=all"),
    ("W10", "at the wire: catch-up read of W8's topic, 1 connection"),
]
# Workloads whose payload is written to disk uncompressed: shown as a share of the fsynced limit.
DISK_SHARE = ("W1", "W2", "KP", "W8")
LATENCY = [
    ("W1", "latency_us", "W1 send→ack, at saturation"),
    ("W2", "latency_us", "W2 send→ack, at saturation"),
    ("W3", "latency_us", "W3 send→ack, at saturation"),
    ("W5", "latency_us", "W5 end-to-end, 20k/s × 1 KiB"),
    ("W5", "ack_latency_us", "W5 send→ack (acks=all), same run"),
    ("W7", "latency_us", "W7 send→ack, 1,000 partitions + connections, fixed rate"),
    ("KP", "latency_us", "KP send→ack (Java client)"),
    ("W8", "latency_us", "W8 request send→answer at the wire, saturation (1,000 records each)"),
    ("W9", "latency_us", "W9 request send→answer at the wire, 1 record each, 8 × 32 in flight"),
    ("W11", "latency_us", "W11 request send→answer at half of W8's peak (100 records each)"),
]


def load(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    runs, single, errors = defaultdict(list), {}, []
    for row in rows:
        if "error" in row:
            errors.append(row)
        elif "rep" in row:
            runs[(row["system"], row["workload"])].append(row)
        else:
            single[(row["system"], row["workload"])] = row["result"]
    return runs, single, errors


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def systems_in(runs):
    present = {system for system, _ in runs}
    return [s for s in SYSTEM_ORDER if s in present]


def throughput_table(runs, single, systems):
    loop = (single.get(("limits", "loopback-tcp")) or {}).get("mb_per_s")
    disk = (single.get(("limits", "disk-seq-1m-fdatasync")) or {}).get("mb_per_s")
    out = ["## Throughput (records/s, median; MB/s of payload; ratio to Kafka)", ""]
    head = "| workload | " + " | ".join(LABEL[s] for s in systems)
    head += " | " + " | ".join(f"{s} / kafka" for s in systems if s != BASE) + " |"
    out += [head, "|---" * (1 + len(systems) + len(systems) - 1) + "|"]
    for workload, what in THROUGHPUT:
        cells, meds = [], {}
        for s in systems:
            rs = [r["result"] for r in runs.get((s, workload), [])]
            rps = med([r.get("records_per_s") for r in rs])
            mbs = med([r.get("mb_per_s") for r in rs])
            meds[s] = rps
            if rps is None:
                cells.append("–")
                continue
            spread = ", ".join(fmt(r.get("records_per_s")) for r in rs)
            frac = []
            if loop and mbs is not None:
                frac.append(f"{100 * mbs / loop:.1f} % of loopback")
            if disk and mbs is not None and workload in DISK_SHARE:
                frac.append(f"{100 * mbs / disk:.0f} % of disk")
            cells.append(f"**{fmt(rps)}** ({fmt(mbs, 1)} MB/s; {'; '.join(frac)}) [{spread}]")
        ratios = [ratio(meds.get(s), meds.get(BASE)) for s in systems if s != BASE]
        out.append(f"| {workload}: {what} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    out += ["", "Fractions are of payload MB/s over the loopback TCP and the 1 MiB write+fdatasync "
            "rates measured in this run. W3's payload is lz4-compressed on the wire and on disk, so "
            "its MB/s (uncompressed) has no disk share and overstates its loopback share. "
            "W10's MB/s counts whole record batches (headers included), the others payload. "
            "[..] lists every repetition.", ""]
    return out


def latency_table(runs, systems):
    out = ["## Latency (ms, medians over repetitions of each run's percentile; ratio to Kafka at p99)", ""]
    out += ["| figure | " + " | ".join(f"{LABEL[s]} p50 / p99 / p99.9 / max" for s in systems)
            + " | " + " | ".join(f"{s} / kafka p99" for s in systems if s != BASE) + " |",
            "|---" * (1 + 2 * len(systems) - 1) + "|"]
    for workload, field, what in LATENCY:
        cells, p99 = [], {}
        for s in systems:
            lats = [r["result"].get(field) for r in runs.get((s, workload), [])]
            lats = [lat for lat in lats if lat]
            if not lats:
                cells.append("–")
                continue
            qs = [med([lat.get(q) for lat in lats]) for q in ("p50", "p99", "p999", "max")]
            p99[s] = qs[1]
            cells.append(" / ".join(fmt(q / 1000 if q is not None else None, 2) for q in qs))
        ratios = [ratio(p99.get(s), p99.get(BASE)) for s in systems if s != BASE]
        out.append(f"| {what} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    out.append("")
    return out


def wire_table(runs, single, systems):
    """The figures of the issue's goals that only a client costing little can show."""
    disk = (single.get(("limits", "disk-seq-1m-fdatasync")) or {}).get("mb_per_s")
    out = ["## At the wire (vltava-bench wire-*: the broker is the limit, not the client)", ""]
    out += ["| figure | goal | " + " | ".join(LABEL[s] for s in systems)
            + " | " + " | ".join(f"{s} / kafka" for s in systems if s != BASE) + " |",
            "|---" * (2 + 2 * len(systems) - 1) + "|"]

    def row(what, goal, workload, figure, digits=0):
        values, spreads = {}, {}
        for s in systems:
            got = [figure(r) for r in runs.get((s, workload), [])]
            got = [g for g in got if g is not None]
            values[s] = med(got)
            spreads[s] = ", ".join(fmt(g, digits) for g in got)
        cells = [f"**{fmt(values[s], digits)}** [{spreads[s]}]" if values[s] is not None else "–"
                 for s in systems]
        ratios = [ratio(values.get(s), values.get(BASE)) for s in systems if s != BASE]
        out.append(f"| {what} | {goal} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")

    def result(field):
        return lambda r: r["result"].get(field)

    def cores(r):
        return r["result"].get("broker_cores")

    row("W8 records/s, 4 connections, acks=all", "≥ 3,500,000", "W8", result("records_per_s"))
    if disk:
        row("W8 share of the 1 MiB write+fdatasync limit, %", "90", "W8",
            lambda r: 100 * r["result"]["mb_per_s"] / disk if r["result"].get("mb_per_s") else None, 1)
    row("W8 broker cores busy", "", "W8", cores, 2)
    row("W9 produce requests/s (1 record each)", "", "W9", result("requests_per_s"))
    row("W9 requests/s per broker core", "≥ 50,000", "W9", result("requests_per_broker_core_s"))
    row("W9 broker cores busy", "", "W9", cores, 2)
    row("W10 catch-up read, records/s", "≥ 5,000,000", "W10", result("records_per_s"))
    row("W11 rate asked (half of W8), records/s", "", "W11", result("rate"))
    row("W11 rate achieved, records/s", "", "W11", result("records_per_s"))
    row("W11 p50, ms", "≤ 0.5", "W11", lambda r: r["result"]["latency_us"]["p50"] / 1000, 3)
    row("W11 p99, ms", "≤ 1", "W11", lambda r: r["result"]["latency_us"]["p99"] / 1000, 3)
    row("W11 p99.9, ms", "", "W11", lambda r: r["result"]["latency_us"]["p999"] / 1000, 3)
    out += ["", "Broker cores: the broker's CPU time over the run's first send to last answer "
            "(/proc/PID/stat). W11 latency is per request (100 records), sent on a timer at half "
            "the records/s W8 reached on the same system in the same repetition. "
            "[..] lists every repetition.", ""]
    return out


def memory_table(runs, single, systems):
    out = ["## Start-up and memory (medians)", ""]
    out += ["| figure | " + " | ".join(LABEL[s] for s in systems)
            + " | " + " | ".join(f"{s} / kafka" for s in systems if s != BASE) + " |",
            "|---" * (1 + 2 * len(systems) - 1) + "|"]

    def row(what, values, digits=1):
        ratios = [ratio(values.get(s), values.get(BASE)) for s in systems if s != BASE]
        out.append(f"| {what} | " + " | ".join(fmt(values.get(s), digits) for s in systems)
                   + " | " + " | ".join(ratios) + " |")

    startup = {s: (single.get((s, "W6-startup")) or {}) for s in systems}
    row("W6 process start → first answered Metadata, ms",
        {s: startup[s].get("ready_ms_median") for s in systems})
    row("W6 idle RSS 1 s after start (startup tool), MiB",
        {s: (startup[s].get("idle_rss_kib_median") or 0) / 1024 or None for s in systems})
    row("W6 idle RSS 1 s after start (each repetition), MiB",
        {s: med([r["result"]["kib"] / 1024 for r in runs.get((s, "W6-idle-rss"), [])]) for s in systems})
    row("W6 loaded: peak RSS (VmHWM) after W1–W7, KP, KC, MiB",
        {s: med([r["result"]["hwm_kib"] / 1024 for r in runs.get((s, "W6-loaded-rss"), [])]) for s in systems})
    row("W7 RSS with 1,000 partitions and connections open, MiB",
        {s: med([(r["result"].get("broker_rss_kib") or 0) / 1024 or None for r in runs.get((s, "W7"), [])])
         for s in systems})
    row("W7 idle connections still answering at the end",
        {s: med([r["result"].get("idle_connections_answering") for r in runs.get((s, "W7"), [])])
         for s in systems}, 0)
    out.append("")
    return out


def cpu_table(runs, systems):
    out = ["## CPU during each client run (cores busy = CPU seconds / wall seconds; broker / client)", ""]
    out += ["| workload | " + " | ".join(LABEL[s] for s in systems) + " |", "|---" * (1 + len(systems)) + "|"]
    for workload in ("W1", "W2", "W3", "W4", "W5", "W7", "W8", "W9", "W10", "W11"):
        cells = []
        for s in systems:
            rs = runs.get((s, workload), [])
            secs = [r.get("wall_s") for r in rs]
            broker = med([r["broker_cpu_s"] / t for r, t in zip(rs, secs) if t])
            client = med([r["client_cpu_s"] / t for r, t in zip(rs, secs) if t])
            cells.append(f"{fmt(broker, 2)} / {fmt(client, 2)}" if broker is not None else "–")
        out.append(f"| {workload} | " + " | ".join(cells) + " |")
    out += ["", "Over the client process's whole life (start-up, topic creation, warm-up and, for W7, "
            "opening the idle connections included), so below the load's own peak.", ""]
    return out


def limits_lines(single):
    out = ["## The machine's limits, measured in the same run", ""]
    loop = single.get(("limits", "loopback-tcp"))
    seq = single.get(("limits", "disk-seq-1m-fdatasync"))
    app = single.get(("limits", "disk-append-4k-fdatasync"))
    if loop:
        out.append(f"- loopback TCP (iperf3, one stream): {loop['mb_per_s']:,.0f} MB/s")
    if seq:
        out.append(f"- 1 MiB sequential writes, fdatasync after each (fio): {seq['mb_per_s']:,.0f} MB/s")
        out.append(f"  → 100 B records at that rate: {seq['mb_per_s'] * 1e6 / 100 / 1e6:.2f} M records/s")
    if app:
        sync = app.get("fdatasync_p50_us")
        out.append(f"- 4 KiB append + fdatasync (fio): {app['iops']:,.0f} per s, {app['op_us']:.0f} µs each"
                   + (f"; fdatasync alone p50 {sync:.0f} µs, p99 {app.get('fdatasync_p99_us', 0):.0f} µs"
                      if sync else ""))
    out.append("")
    return out


def errors_lines(errors):
    if not errors:
        return ["No workload failed or was skipped.", ""]
    out = ["## Failed or skipped", ""]
    for e in errors:
        out.append(f"- {e['system']} rep {e.get('rep', '-')} {e['workload']}: {e['error']}")
    out.append("")
    return out


def main():
    runs, single, errors = load(sys.argv[1])
    systems = systems_in(runs)
    settings = single.get(("meta", "settings"), {})
    finished = single.get(("meta", "finished"), {})
    lines = [f"# bench/compare: {settings.get('started', '?')} → {finished.get('at', '?')}", "",
             f"work tree at {settings.get('vltava_commit', '?')}, vltava binary "
             f"{settings.get('vltava_bin', '?')}; {settings.get('reps', '?')} repetitions; "
             f"{settings.get('records', '?'):,} records in W1/W2/W4; workloads "
             f"{settings.get('workloads', 'all')}; load average "
             f"{settings.get('load_avg_1m', '?')} at the start, {finished.get('load_avg_1m', '?')} at the end"
             + ("; SMOKE (tiny workloads, not figures)" if settings.get("smoke") else ""), ""]
    lines += limits_lines(single)
    lines += throughput_table(runs, single, systems)
    lines += latency_table(runs, systems)
    lines += wire_table(runs, single, systems)
    lines += memory_table(runs, single, systems)
    lines += cpu_table(runs, systems)
    lines += errors_lines(errors)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
