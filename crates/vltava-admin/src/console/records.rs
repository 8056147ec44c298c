//! Records as the pages see them (`RecordView`), and producing one record from the page.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use kafka_protocol::records::Compression;
use serde::{Deserialize, Serialize};
use vltava_client::batches::{self, InRecord, OutRecord};
use vltava_client::partitioner::Partitioner;
use vltava_client::{Acks, Produced, TopicPartition, error_name, leadership_error};

use super::api::{json_body, path_param};
use super::{ApiError, Console};

/// The bytes of a key, value or header value sent to the page; the rest is cut (the page
/// says so). Searches and tails send at most this much per payload.
const PAYLOAD_PREVIEW_BYTES_MAX: usize = 16 * 1024;
/// Headers on one produced record.
const HEADERS_MAX: usize = 64;
/// How long the leader may take to make a produced record durable (acks=all).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// Attempts of a produce whose leader moved or could not be reached.
const PRODUCE_ATTEMPTS_MAX: u32 = 5;
const PRODUCE_BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);

/// A key, value or header value: its text when it is UTF-8, its bytes in hex, both cut at
/// `PAYLOAD_PREVIEW_BYTES_MAX`. `null` stands for a null payload. The page decodes JSON
/// from the text itself.
#[derive(Debug, Serialize)]
pub struct Payload {
    size: usize,
    text: Option<String>,
    hex: String,
    truncated: bool,
}

impl Payload {
    fn of(bytes: Option<&bytes::Bytes>) -> Option<Payload> {
        let bytes = bytes?;
        let shown = &bytes[..bytes.len().min(PAYLOAD_PREVIEW_BYTES_MAX)];
        let text = match std::str::from_utf8(shown) {
            Ok(text) => Some(text.to_string()),
            // Cut in the middle of a character: the whole characters before it.
            Err(e) if e.error_len().is_none() && shown.len() < bytes.len() => {
                Some(String::from_utf8_lossy(&shown[..e.valid_up_to()]).into_owned())
            }
            Err(_) => None,
        };
        Some(Payload {
            size: bytes.len(),
            text,
            hex: shown.iter().map(|b| format!("{b:02x}")).collect(),
            truncated: shown.len() < bytes.len(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct HeaderView {
    key: String,
    value: Option<Payload>,
}

#[derive(Debug, Serialize)]
pub struct RecordView {
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: &'static str,
    key: Option<Payload>,
    value: Option<Payload>,
    headers: Vec<HeaderView>,
}

impl RecordView {
    pub fn of(partition: i32, record: &InRecord) -> RecordView {
        RecordView {
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: if record.log_append_time {
                "LogAppendTime"
            } else {
                "CreateTime"
            },
            key: Payload::of(record.key.as_ref()),
            value: Payload::of(record.value.as_ref()),
            headers: record
                .headers
                .iter()
                .map(|(key, value)| HeaderView {
                    key: key.clone(),
                    value: Payload::of(value.as_ref()),
                })
                .collect(),
        }
    }
}

/// A record to produce, as text. No partition: Kafka's default partitioner's, the key's or,
/// without a key, a random one with a leader (a record produced alone is a new batch).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    partition: Option<i32>,
    key: Option<String>,
    value: Option<String>,
    #[serde(default)]
    headers: Vec<HeaderText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderText {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProduceDone {
    partition: i32,
    offset: i64,
}

/// Produces one record with acks=all to its partition's leader.
pub async fn produce(
    State(console): State<Console>,
    topic: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProduceDone>, ApiError> {
    let topic = path_param(topic)?;
    let request: ProduceRequest = json_body(body)?;
    if request.headers.len() > HEADERS_MAX {
        return Err(ApiError::bad_request(format!(
            "at most {HEADERS_MAX} headers"
        )));
    }
    if request.partition.is_some_and(|p| p < 0) {
        return Err(ApiError::bad_request("a partition is at least 0"));
    }
    let record = OutRecord {
        key: request.key.map(bytes::Bytes::from),
        value: request.value.map(bytes::Bytes::from),
        headers: request
            .headers
            .into_iter()
            .map(|h| (h.key, h.value.map(bytes::Bytes::from)))
            .collect(),
        timestamp: batches::now_ms(),
    };
    let done = console
        .call(move |client| {
            let batch = batches::encode(std::slice::from_ref(&record), Compression::None)?;
            let mut last_error = None;
            for _ in 0..PRODUCE_ATTEMPTS_MAX {
                let leaders = client.leaders(std::slice::from_ref(&topic), false)?;
                if let Some(code) = leaders.topic_errors.get(&topic) {
                    anyhow::bail!("topic {topic}: {}", error_name(*code));
                }
                let count = i32::try_from(leaders.partitions.len())?;
                let partition = match request.partition {
                    Some(partition) => partition,
                    None => {
                        let mut partitioner = Partitioner::with_random_seed(count);
                        let available: Vec<i32> = leaders
                            .partitions
                            .iter()
                            .filter(|(_, leader)| leaders.brokers.contains_key(leader))
                            .map(|(p, _)| p.partition)
                            .collect();
                        partitioner.new_batch(&available);
                        partitioner.partition(record.key.as_deref())
                    }
                };
                let target = TopicPartition {
                    topic: topic.clone(),
                    partition,
                };
                let Some(leader) = leaders.partitions.get(&target) else {
                    anyhow::bail!("{target}: UNKNOWN_TOPIC_OR_PARTITION");
                };
                let answer = leaders
                    .brokers
                    .get(leader)
                    .ok_or_else(|| anyhow::anyhow!("{target}: no leader now"))
                    .and_then(|address| client.connect_to(address))
                    .and_then(|mut leader| {
                        leader.produce(Acks::All, PRODUCE_TIMEOUT_MS, &[(target, batch.clone())])
                    });
                match answer.map(|mut answered| answered.pop()) {
                    Ok(Some((_, Produced::Appended { base_offset }))) => {
                        return Ok(ProduceDone {
                            partition,
                            offset: base_offset,
                        });
                    }
                    Ok(Some((p, Produced::Failed { code, message }))) => {
                        let message = message.unwrap_or_default();
                        let error =
                            anyhow::anyhow!("producing to {p} ({message}): {}", error_name(code));
                        if !leadership_error(code) {
                            return Err(error);
                        }
                        last_error = Some(error);
                    }
                    Ok(_) => anyhow::bail!("the leader sent no answer for the record"),
                    Err(error) => last_error = Some(error),
                }
                std::thread::sleep(PRODUCE_BACKOFF);
            }
            Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the record was not produced")))
        })
        .await?;
    Ok(Json(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text only for UTF-8; a cut in the middle of a character keeps the whole ones before it.
    #[test]
    fn payloads_are_text_when_utf8_and_cut_at_the_preview_limit() {
        let text = Payload::of(Some(&bytes::Bytes::from_static(b"h\xc3\xa9"))).map(|p| p.text);
        assert_eq!(text, Some(Some("hé".to_string())));
        let binary = Payload::of(Some(&bytes::Bytes::from_static(b"\xff\x00")));
        assert!(
            binary
                .as_ref()
                .is_some_and(|p| p.text.is_none() && p.hex == "ff00")
        );
        assert!(Payload::of(None).is_none());
        let mut long = vec![b'a'; PAYLOAD_PREVIEW_BYTES_MAX - 1];
        long.extend_from_slice("é and more".as_bytes());
        let cut = Payload::of(Some(&bytes::Bytes::from(long)));
        assert!(cut.is_some_and(|p| {
            p.truncated
                && p.hex.len() == 2 * PAYLOAD_PREVIEW_BYTES_MAX
                && p.text
                    .is_some_and(|t| t.len() == PAYLOAD_PREVIEW_BYTES_MAX - 1)
        }));
    }
}
