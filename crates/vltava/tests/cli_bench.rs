//! `vltava bench produce` and `vltava bench consume` against a real broker: the counts they
//! report must be the records the broker stored and a consumer then reads (a load generator
//! that counts requests it never had acknowledged, or stops short, measures nothing), every
//! request acknowledged; wrong arguments fail the run instead of being timed. Off a terminal
//! (as here, stderr a pipe) the progress line must not appear, so scripts see clean output.

mod common;

use common::{BoxError, TestResult, cli};
use serde_json::Value;
use vltava_testkit::start_broker;

/// `vltava bench ARGS --json`: must succeed, print one JSON object and nothing on stderr.
fn bench_json(bootstrap: &str, args: &[&str]) -> Result<Value, BoxError> {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let output = common::cli_ok(bootstrap, "bench", &with_json, &[])?;
    let stderr = String::from_utf8(output.stderr)?;
    assert_eq!(stderr, "", "bench {args:?} wrote to stderr off a terminal");
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn number(report: &Value, field: &str) -> Result<u64, BoxError> {
    Ok(report[field]
        .as_u64()
        .ok_or_else(|| format!("no {field} in {report}"))?)
}

#[test]
fn bench_consume_reads_every_record_bench_produce_had_acknowledged() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    let produce_args = [
        "produce",
        "loaded",
        "--records",
        "60000",
        "--record-size",
        "100",
        "--partitions",
        "3",
        "--connections",
        "3",
        "--batch-records",
        "500",
        "--acks",
        "all",
    ];
    let produced = bench_json(b, &produce_args)?;
    assert_eq!(number(&produced, "records_acked")?, 60_000, "{produced}");
    assert_eq!(number(&produced, "requests_sent")?, 120, "{produced}");
    assert_eq!(number(&produced, "requests_acked")?, 120, "{produced}");
    assert_eq!(number(&produced, "requests_failed")?, 0, "{produced}");
    assert_eq!(number(&produced, "partitions")?, 3, "{produced}");
    // A latency for every request, and percentiles in order.
    let latency = &produced["latency_us"];
    assert_eq!(number(latency, "count")?, 120, "{produced}");
    assert!(number(latency, "p50")? <= number(latency, "p99")?);
    assert!(number(latency, "p99")? <= number(latency, "max")?);
    assert!(produced["records_per_s"].as_f64().is_some_and(|r| r > 0.0));

    let consumed = bench_json(b, &["consume", "loaded", "--connections", "2"])?;
    assert_eq!(number(&consumed, "records_expected")?, 60_000, "{consumed}");
    assert_eq!(number(&consumed, "records_read")?, 60_000, "{consumed}");

    let output = common::cli_ok(b, "consume", &["loaded", "-e", "--json"], &[])?;
    let lines = String::from_utf8(output.stdout)?;
    assert_eq!(lines.lines().count(), 60_000);
    let first: Value = serde_json::from_str(lines.lines().next().ok_or("no record")?)?;
    assert_eq!(first["value"].as_str().map(str::len), Some(100), "{first}");
    assert_eq!(
        String::from_utf8(output.stderr)?,
        "",
        "consume -e off a terminal"
    );
    Ok(())
}

#[test]
fn bench_produce_of_fewer_records_than_a_batch_sends_exactly_those() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    let produced = bench_json(
        b,
        &["produce", "small", "-n", "7", "-c", "1", "--acks", "1"],
    )?;
    assert_eq!(number(&produced, "records_acked")?, 7, "{produced}");
    let consumed = bench_json(b, &["consume", "small"])?;
    assert_eq!(number(&consumed, "records_read")?, 7, "{consumed}");
    Ok(())
}

#[test]
fn bench_refuses_what_it_cannot_measure() -> TestResult {
    let broker = start_broker(&[])?;
    let b = broker.bootstrap();
    // acks=0 has no answer to check.
    let output = cli(b, "bench", &["produce", "t", "-n", "10", "--acks", "0"])?;
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr)?.contains("--acks 0"));
    // More connections than partitions of an existing topic.
    bench_json(b, &["produce", "two", "-n", "10", "-c", "2"])?;
    let output = cli(b, "bench", &["produce", "two", "-n", "10", "-c", "4"])?;
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr)?.contains("fewer than the 4 connections"));
    Ok(())
}
