//! `produce --rate` and `e2e` against a real vltava broker: a paced run must keep its schedule
//! (never ahead of it, so that a rate is a rate) and the e2e consumer must read every record
//! sent. Guards the pacing that sleeps instead of spinning on `poll(0)`: sending a burst of the
//! records that fell due must not turn into sending ahead of time, or into losing records.

mod common;

use common::{TestResult, bench, number};

#[test]
fn e2e_at_a_fixed_rate_reads_every_record_on_schedule() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let (ok, report) = bench(&[
        "e2e",
        "--bootstrap",
        broker.bootstrap(),
        "--topic",
        "paced-e2e",
        "--rate",
        "5000",
        "--seconds",
        "2",
        "--record-bytes",
        "64",
        "--acks",
        "all",
    ])?;
    assert!(ok, "e2e failed: {report}");
    assert_eq!(number(&report, "records_sent")?, 10_000.0);
    assert_eq!(number(&report, "records_acked")?, 10_000.0);
    assert_eq!(number(&report, "records_consumed")?, 10_000.0);
    assert_eq!(number(&report, "records_missing")?, 0.0);
    assert_eq!(number(&report, "duplicates")?, 0.0);
    assert_eq!(number(&report["latency_us"], "count")?, 10_000.0);
    // Record n leaves at n / rate, never earlier: the last at 1.9998 s.
    let send_s = number(&report, "send_s")?;
    assert!(
        send_s >= 1.999,
        "10,000 records at 5,000/s sent in {send_s} s"
    );
    Ok(())
}

#[test]
fn produce_at_a_fixed_rate_does_not_run_ahead_of_its_schedule() -> TestResult {
    let broker = vltava_testkit::start_broker(&[])?;
    let (ok, report) = bench(&[
        "produce",
        "--bootstrap",
        broker.bootstrap(),
        "--topic",
        "paced-produce",
        "--records",
        "20000",
        "--rate",
        "20000",
        "--record-bytes",
        "100",
        "--acks",
        "1",
        "--duration-s-max",
        "60",
    ])?;
    assert!(ok, "produce failed: {report}");
    assert_eq!(number(&report, "records_acked")?, 20_000.0);
    assert_eq!(number(&report, "records_failed")?, 0.0);
    // The last record is due at 0.99995 s; its ack cannot come before that.
    let elapsed_s = number(&report, "elapsed_s")?;
    assert!(
        elapsed_s >= 0.999,
        "20,000 records at 20,000/s acknowledged in {elapsed_s} s"
    );
    Ok(())
}
