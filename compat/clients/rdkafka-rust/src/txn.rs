//! The transactions scenario: commit, abort, commit with librdkafka's transactional producer.

use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::{check, config, create_topic, read_topic_with, Args, Outcome, WAIT};

/// Commits a, aborts b (its records flushed first, so they are in the log), commits c; a
/// read_committed consumer reads a and c in order, a read_uncommitted one all nine.
pub(crate) fn transactions(args: &Args) -> Result<Outcome, String> {
    let topic = format!("{}-transactions", args.prefix);
    create_topic(args, &topic, 1, &[])?;
    let producer: ThreadedProducer<DefaultProducerContext> = config(args)
        .set("transactional.id", format!("{}-txn", args.prefix))
        .create()
        .map_err(|e| e.to_string())?;
    producer
        .init_transactions(WAIT)
        .map_err(|e| e.to_string())?;
    for (name, commit) in [("a", true), ("b", false), ("c", true)] {
        producer.begin_transaction().map_err(|e| e.to_string())?;
        for i in 0..3 {
            let value = format!("{name}{i}");
            producer
                .send(
                    BaseRecord::<(), str>::to(&topic)
                        .partition(0)
                        .payload(&value),
                )
                .map_err(|(e, _)| e.to_string())?;
        }
        if commit {
            producer
                .commit_transaction(WAIT)
                .map_err(|e| e.to_string())?;
        } else {
            producer.flush(WAIT).map_err(|e| e.to_string())?;
            producer
                .abort_transaction(WAIT)
                .map_err(|e| e.to_string())?;
        }
    }
    let values = |isolation: &str, count: usize| -> Result<Vec<String>, String> {
        let read = read_topic_with(args, &topic, 1, count, &[("isolation.level", isolation)])?;
        Ok(read
            .into_iter()
            .map(|r| String::from_utf8_lossy(&r.3.unwrap_or_default()).into_owned())
            .collect())
    };
    let committed = values("read_committed", 6)?;
    check(committed == ["a0", "a1", "a2", "c0", "c1", "c2"], || {
        format!("read_committed read {committed:?}")
    })?;
    let everything = values("read_uncommitted", 9)?;
    check(
        everything == ["a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"],
        || format!("read_uncommitted read {everything:?}"),
    )?;
    Ok(Outcome::Pass(
        "commit, abort, commit: read_committed 6 records in order, read_uncommitted 9".into(),
    ))
}
