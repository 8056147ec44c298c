//! Incremental fetch sessions (KIP-227). A session remembers the partitions a client fetches
//! and their fetch offsets, so later requests name only what changed and responses carry only
//! partitions with news (records, a moved high watermark or log start offset, an error).

use std::collections::HashMap;
use std::sync::Mutex;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::TopicName;
use uuid::Uuid;

/// Kafka's `max.incremental.fetch.session.cache.slots` default.
pub const SESSIONS_MAX: usize = 1000;
/// Epoch of a request that wants no session (or closes one).
pub const FINAL_EPOCH: i32 = -1;
/// Epoch of a request that opens a session.
pub const INITIAL_EPOCH: i32 = 0;

/// A partition as the request names it: by topic name (Fetch < v13) or topic id (v13+).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: TopicName,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// What to read from one partition.
#[derive(Debug, Clone)]
pub struct FetchTarget {
    pub key: PartitionKey,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// The leader epoch the client saw (KIP-320), kept with the session like the offset.
    pub current_leader_epoch: i32,
    /// The epoch of the last batch the fetcher has (KIP-320, v12+; -1: none), to detect a log
    /// that diverged from it.
    pub last_fetched_epoch: i32,
}

/// What was last reported for a partition in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reported {
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// What a partition's answer carries besides its offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Records or an error: always news for the client.
    RecordsOrError,
    /// Only offsets: news only if they moved since the last response sent.
    OffsetsOnly,
}

#[derive(Debug)]
struct Session {
    epoch: i32,
    partitions: Vec<(FetchTarget, Option<Reported>)>,
    last_used: u64,
}

/// The partitions one fetch request reads, after applying its session.
#[derive(Debug)]
pub struct ResolvedFetch {
    /// 0 when the fetch has no session.
    pub session_id: i32,
    pub targets: Vec<FetchTarget>,
    /// Incremental: answer only partitions with news.
    pub incremental: bool,
}

#[derive(Debug, Default)]
pub struct FetchSessions {
    inner: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    sessions: HashMap<i32, Session>,
    next_id: i32,
    clock: u64,
}

impl FetchSessions {
    /// Applies the request to its session. Errors are top-level Fetch error codes.
    pub fn resolve(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<FetchTarget>,
        forgotten: Vec<PartitionKey>,
    ) -> Result<ResolvedFetch, i16> {
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        cache.clock += 1;
        let now = cache.clock;
        if epoch == FINAL_EPOCH {
            cache.sessions.remove(&session_id);
            return Ok(ResolvedFetch {
                session_id: 0,
                targets: requested,
                incremental: false,
            });
        }
        if session_id == 0 {
            if epoch != INITIAL_EPOCH {
                return Err(ResponseError::InvalidFetchSessionEpoch.code());
            }
            let id = cache.new_session(&requested, now);
            return Ok(ResolvedFetch {
                session_id: id,
                targets: requested,
                incremental: false,
            });
        }
        if epoch == INITIAL_EPOCH {
            // A full fetch that replaces an existing session.
            cache.sessions.remove(&session_id);
            let id = cache.new_session(&requested, now);
            return Ok(ResolvedFetch {
                session_id: id,
                targets: requested,
                incremental: false,
            });
        }
        let session = cache
            .sessions
            .get_mut(&session_id)
            .ok_or(ResponseError::FetchSessionIdNotFound.code())?;
        if session.epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch.code());
        }
        session.epoch = next_epoch(epoch);
        session.last_used = now;
        session
            .partitions
            .retain(|(t, _)| !forgotten.contains(&t.key));
        for target in requested {
            match session
                .partitions
                .iter_mut()
                .find(|(t, _)| t.key == target.key)
            {
                Some((existing, _)) => *existing = target,
                None => session.partitions.push((target, None)),
            }
        }
        let targets = session.partitions.iter().map(|(t, _)| t.clone()).collect();
        Ok(ResolvedFetch {
            session_id,
            targets,
            incremental: true,
        })
    }

    /// Records what the response reports and says whether an incremental response must include
    /// this partition (it has records or an error, or its offsets moved since last time).
    /// Call it only for a response that is sent: what it records counts as told to the client.
    pub fn report(
        &self,
        session_id: i32,
        key: &PartitionKey,
        now: Reported,
        payload: Payload,
    ) -> bool {
        if session_id == 0 {
            return true;
        }
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(session) = cache.sessions.get_mut(&session_id) else {
            return true;
        };
        let Some((_, reported)) = session.partitions.iter_mut().find(|(t, _)| &t.key == key) else {
            return true;
        };
        let changed = *reported != Some(now);
        *reported = Some(now);
        payload == Payload::RecordsOrError || changed
    }
}

impl Cache {
    fn new_session(&mut self, targets: &[FetchTarget], now: u64) -> i32 {
        if self.sessions.len() >= SESSIONS_MAX {
            // Evict the least recently used session; its client falls back to a full fetch.
            if let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id)
            {
                self.sessions.remove(&oldest);
            }
        }
        self.next_id = if self.next_id >= i32::MAX - 1 {
            1
        } else {
            self.next_id + 1
        };
        let id = self.next_id;
        self.sessions.insert(
            id,
            Session {
                epoch: 1,
                partitions: targets.iter().map(|t| (t.clone(), None)).collect(),
                last_used: now,
            },
        );
        id
    }
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    fn target(partition: i32, offset: i64) -> FetchTarget {
        FetchTarget {
            key: PartitionKey {
                topic: TopicName(StrBytes::from_static_str("t")),
                topic_id: Uuid::nil(),
                partition,
            },
            fetch_offset: offset,
            max_bytes: 1024,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        }
    }

    #[test]
    fn incremental_request_keeps_partitions_not_named_again() -> Result<(), i16> {
        let sessions = FetchSessions::default();
        let full = sessions.resolve(0, INITIAL_EPOCH, vec![target(0, 0), target(1, 0)], vec![])?;
        assert!(!full.incremental);
        let next = sessions.resolve(full.session_id, 1, vec![target(1, 5)], vec![])?;
        assert!(next.incremental);
        let offsets: Vec<_> = next
            .targets
            .iter()
            .map(|t| (t.key.partition, t.fetch_offset))
            .collect();
        assert_eq!(offsets, vec![(0, 0), (1, 5)]);
        Ok(())
    }

    #[test]
    fn forgotten_partitions_leave_the_session() -> Result<(), i16> {
        let sessions = FetchSessions::default();
        let full = sessions.resolve(0, INITIAL_EPOCH, vec![target(0, 0), target(1, 0)], vec![])?;
        let next = sessions.resolve(full.session_id, 1, vec![], vec![target(0, 0).key])?;
        assert_eq!(next.targets.len(), 1);
        assert_eq!(next.targets[0].key.partition, 1);
        Ok(())
    }

    #[test]
    fn wrong_epoch_and_unknown_session_are_refused() -> Result<(), i16> {
        let sessions = FetchSessions::default();
        let full = sessions.resolve(0, INITIAL_EPOCH, vec![target(0, 0)], vec![])?;
        assert_eq!(
            sessions.resolve(full.session_id, 7, vec![], vec![]).err(),
            Some(ResponseError::InvalidFetchSessionEpoch.code())
        );
        assert_eq!(
            sessions
                .resolve(full.session_id + 100, 1, vec![], vec![])
                .err(),
            Some(ResponseError::FetchSessionIdNotFound.code())
        );
        Ok(())
    }

    #[test]
    fn unchanged_partitions_are_left_out_of_incremental_responses() -> Result<(), i16> {
        let sessions = FetchSessions::default();
        let full = sessions.resolve(0, INITIAL_EPOCH, vec![target(0, 0)], vec![])?;
        let key = target(0, 0).key;
        let offsets = Reported {
            high_watermark: 10,
            log_start_offset: 0,
        };
        let offsets_only = Payload::OffsetsOnly;
        assert!(sessions.report(full.session_id, &key, offsets, offsets_only));
        assert!(!sessions.report(full.session_id, &key, offsets, offsets_only));
        assert!(sessions.report(full.session_id, &key, offsets, Payload::RecordsOrError));
        Ok(())
    }
}
