#!/usr/bin/env python3
"""PNG plots from bench/compare's results.jsonl (run in bench/.venv, see requirements.txt).

    compare_plots.py WORK/results.jsonl OUT_DIR

Writes OUT_DIR/throughput.png (median bars with the min–max of the repetitions),
OUT_DIR/latency.png (percentile curves: each point the median of the repetitions at that
percentile) and OUT_DIR/startup-memory.png.
"""

import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

SYSTEM_ORDER = ["kafka", "vltava", "vltava-nofsync", "tansu"]
COLOUR = {"kafka": "#7f7f7f", "vltava": "#1f77b4", "vltava-nofsync": "#6baed6", "tansu": "#ff7f0e"}
LABEL = {"kafka": "Kafka 4.4.0", "vltava": "vltava (fsync)", "vltava-nofsync": "vltava --flush never",
         "tansu": "Tansu (SQLite)"}
THROUGHPUT = [("W1", "W1 acks=1\n100 B, 1 partition"), ("W2", "W2 acks=all\n100 B, 1 partition"),
              ("W3", "W3 acks=all, lz4\n4 producers, 1 KiB, 8 part."), ("W4", "W4 catch-up read\n100 B"),
              ("KP", "KP Kafka ProducerPerformance\n100 B, acks=all"), ("KC", "KC Kafka ConsumerPerformance"),
              ("W8", "W8 at the wire, acks=all\n4 connections, 100 B, 1,000/batch"),
              ("W10", "W10 at the wire\ncatch-up read of W8's topic")]
CURVES = [("W2", "latency_us", "W2 send→ack (saturation)"), ("W3", "latency_us", "W3 send→ack (saturation)"),
          ("W5", "latency_us", "W5 end-to-end, 20k records/s"), ("W7", "latency_us", "W7 send→ack, 1,000 partitions, fixed rate"),
          ("W11", "latency_us", "W11 at the wire, per request, half of W8's peak")]


def load(path):
    runs, single = defaultdict(list), {}
    for line in open(path):
        if not line.strip():
            continue
        row = json.loads(line)
        if "error" in row:
            continue
        if "rep" in row:
            runs[(row["system"], row["workload"])].append(row["result"])
        else:
            single[(row["system"], row["workload"])] = row["result"]
    return runs, single


def throughput(runs, systems, out):
    rows = (len(THROUGHPUT) + 2) // 3
    fig, axes = plt.subplots(rows, 3, figsize=(14, 4 * rows))
    for ax in axes.flat[len(THROUGHPUT):]:
        ax.set_visible(False)
    for ax, (workload, title) in zip(axes.flat, THROUGHPUT):
        names, meds, lows, highs = [], [], [], []
        for s in systems:
            values = [r["records_per_s"] for r in runs.get((s, workload), []) if r.get("records_per_s")]
            if not values:
                continue
            m = statistics.median(values)
            names.append(s)
            meds.append(m / 1e6)
            lows.append((m - min(values)) / 1e6)
            highs.append((max(values) - m) / 1e6)
        ax.bar(range(len(names)), meds, yerr=[lows, highs], capsize=4, color=[COLOUR[n] for n in names])
        ax.set_xticks(range(len(names)), [LABEL[n] for n in names], rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("million records/s")
        for i, m in enumerate(meds):
            ax.annotate(f"{m:.2f}", (i, m), ha="center", va="bottom", fontsize=8)
    fig.suptitle("Throughput, median of the repetitions (bars: min–max)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput.png"), dpi=110)
    plt.close(fig)


def latency(runs, systems, out):
    rows = (len(CURVES) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(13, 4.5 * rows))
    for ax in axes.flat[len(CURVES):]:
        ax.set_visible(False)
    for ax, (workload, field, title) in zip(axes.flat, CURVES):
        for s in systems:
            curves = [r[field]["curve"] for r in runs.get((s, workload), []) if r.get(field, {}).get("curve")]
            if not curves:
                continue
            points = []
            for i, (p, _) in enumerate(curves[0]):
                if p >= 100.0:
                    continue  # the max has no place on a 1/(1-p) axis; it is in the table
                value = statistics.median(c[i][1] for c in curves)
                points.append((1 / (1 - p / 100), value / 1000))
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", color=COLOUR[s], label=LABEL[s])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [1, 2, 10, 100, 1000, 10000]
        ax.set_xticks(ticks, ["0", "50", "90", "99", "99.9", "99.99"])
        ax.set_xlabel("percentile")
        ax.set_ylabel("ms")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Latency percentiles (median over repetitions at each percentile)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"), dpi=110)
    plt.close(fig)


def startup_memory(runs, single, systems, out):
    figures = [
        ("start → first Metadata, ms (log)",
         {s: (single.get((s, "W6-startup")) or {}).get("ready_ms_median") for s in systems}, True),
        ("idle RSS, MiB",
         {s: med([r["kib"] / 1024 for r in runs.get((s, "W6-idle-rss"), [])]) for s in systems}, False),
        ("peak RSS after all workloads, MiB",
         {s: med([r["hwm_kib"] / 1024 for r in runs.get((s, "W6-loaded-rss"), [])]) for s in systems}, False),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    for ax, (title, values, log) in zip(axes, figures):
        names = [s for s in systems if values.get(s)]
        ax.bar(range(len(names)), [values[n] for n in names], color=[COLOUR[n] for n in names])
        ax.set_xticks(range(len(names)), [LABEL[n] for n in names], rotation=20, ha="right", fontsize=8)
        for i, n in enumerate(names):
            ax.annotate(f"{values[n]:,.0f}", (i, values[n]), ha="center", va="bottom", fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "startup-memory.png"), dpi=110)
    plt.close(fig)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    runs, single = load(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    systems = [s for s in SYSTEM_ORDER if any(k[0] == s for k in runs)]
    throughput(runs, systems, out)
    latency(runs, systems, out)
    startup_memory(runs, single, systems, out)
    print(f"plots in {out}: throughput.png latency.png startup-memory.png")


if __name__ == "__main__":
    main()
