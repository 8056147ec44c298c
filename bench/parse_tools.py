#!/usr/bin/env python3
"""Turns the output of the outside tools that bench/compare runs into one JSON object each.

    parse_tools.py producer-perf FILE   Kafka's ProducerPerformance (its last summary line)
    parse_tools.py consumer-perf FILE   Kafka's ConsumerPerformance (its CSV-like stats line)
    parse_tools.py fio FILE             fio --output-format=json: write MB/s, IOPS, fdatasync µs
    parse_tools.py iperf3 FILE          iperf3 -J: received bits/s as MB/s

Only the standard library, so it runs before the plotting venv exists. Exits non-zero with a
message on stderr when the output is not what the tool prints on success.
"""

import json
import re
import sys

PRODUCER_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<records_per_s>[\d.]+) records/sec "
    r"\((?P<mb_per_s>[\d.]+) MB/sec\), (?P<avg_ms>[\d.]+) ms avg latency, "
    r"(?P<max_ms>[\d.]+) ms max latency, (?P<p50_ms>\d+) ms 50th, (?P<p95_ms>\d+) ms 95th, "
    r"(?P<p99_ms>\d+) ms 99th, (?P<p999_ms>\d+) ms 99.9th"
)

# ProducerPerformance reports MB as 2^20 bytes; the rest of the comparison uses 10^6.
MIB = 1024 * 1024


def producer_perf(text):
    matches = list(PRODUCER_SUMMARY.finditer(text))
    if not matches:
        raise ValueError("no ProducerPerformance summary line")
    m = matches[-1].groupdict()
    return {
        "records": int(m["records"]),
        "records_per_s": float(m["records_per_s"]),
        "mb_per_s": float(m["mb_per_s"]) * MIB / 1e6,
        "latency_us": {
            "p50": int(m["p50_ms"]) * 1000,
            "p99": int(m["p99_ms"]) * 1000,
            "p999": int(m["p999_ms"]) * 1000,
            "max": float(m["max_ms"]) * 1000,
            "mean": float(m["avg_ms"]) * 1000,
        },
    }


def consumer_perf(text):
    """The header names the columns; the line after it holds the figures."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("start.time") and i + 1 < len(lines):
            names = [n.strip() for n in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            row = dict(zip(names, values))
            fetch_ms = float(row["fetch.time.ms"])
            records = int(row["data.consumed.in.nMsg"])
            mb = float(row["data.consumed.in.MB"]) * MIB / 1e6
            return {
                "records": records,
                # Fetch time only: the group join (rebalance.time.ms) is reported apart.
                "records_per_s": float(row["fetch.nMsg.sec"]),
                "mb_per_s": mb / (fetch_ms / 1000) if fetch_ms > 0 else 0.0,
                "fetch_ms": fetch_ms,
                "rebalance_ms": float(row["rebalance.time.ms"]),
            }
    raise ValueError("no ConsumerPerformance stats line")


def percentile_us(lat, key):
    pct = (lat or {}).get("percentile") or {}
    value = pct.get(key)
    return None if value is None else value / 1000


def fio(text):
    job = json.loads(text[text.index("{"):])["jobs"][0]
    write, sync = job["write"], job.get("sync") or {}
    out = {
        "mb_per_s": write["bw_bytes"] / 1e6,
        "iops": write["iops"],
        "write_lat_p50_us": percentile_us(write.get("clat_ns"), "50.000000"),
    }
    sync_lat = sync.get("lat_ns")
    if sync_lat and (sync_lat.get("N") or sync.get("total_ios")):
        out["fdatasync_p50_us"] = percentile_us(sync_lat, "50.000000")
        out["fdatasync_p99_us"] = percentile_us(sync_lat, "99.000000")
        out["fdatasync_mean_us"] = sync_lat["mean"] / 1000
    # One write and its fdatasync per operation: the time a durable small append takes.
    out["op_us"] = 1e6 / write["iops"] if write["iops"] else None
    return out


def iperf3(text):
    end = json.loads(text)["end"]
    bps = end["sum_received"]["bits_per_second"]
    return {"mb_per_s": bps / 8 / 1e6, "seconds": end["sum_received"]["seconds"]}


PARSERS = {
    "producer-perf": producer_perf,
    "consumer-perf": consumer_perf,
    "fio": fio,
    "iperf3": iperf3,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in PARSERS:
        sys.exit(__doc__)
    with open(sys.argv[2], errors="replace") as f:
        text = f.read()
    try:
        result = PARSERS[sys.argv[1]](text)
    except (ValueError, KeyError, IndexError, json.JSONDecodeError) as error:
        sys.exit(f"parse_tools {sys.argv[1]}: {sys.argv[2]}: {error!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
