//! `queued.max.request.bytes`: a broker-wide bound on the bytes of requests read but not yet
//! answered.
//!
//! A connection takes a frame's length in permits after checking the length and before reading
//! the body, and gives them back when that request's response has been written (or the request
//! is dropped: acks=0, a bad request, a closed connection). While the pool is empty, connections
//! stop reading: TCP back-pressure reaches the clients, nobody is closed. A frame never needs
//! more than the whole pool, because the bound is at least `socket.request.max.bytes` (checked at
//! start-up, as Kafka does), so every wait ends once earlier requests are answered.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The pool of request bytes; unbounded when `queued.max.request.bytes` is not positive.
#[derive(Debug, Clone)]
pub struct QueuedBytes {
    pool: Option<Arc<Semaphore>>,
}

/// The bytes of one request, held until its response is written.
#[derive(Debug)]
pub struct QueuedPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl QueuedBytes {
    /// A pool of `bytes_max` bytes, or no bound at all for `None`.
    pub fn new(bytes_max: Option<usize>) -> Self {
        QueuedBytes {
            pool: bytes_max
                .map(|bytes| Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS)))),
        }
    }

    /// Takes `frame_bytes` if they are free now and nobody waits before us; `None` otherwise
    /// (then [`QueuedBytes::acquire`] waits for them). Never `None` without a bound.
    pub fn try_acquire(&self, frame_bytes: usize) -> Option<QueuedPermit> {
        let Some(pool) = &self.pool else {
            return Some(QueuedPermit { _permit: None });
        };
        let permits = u32::try_from(frame_bytes).ok()?;
        let permit = pool.clone().try_acquire_many_owned(permits).ok()?;
        Some(QueuedPermit {
            _permit: Some(permit),
        })
    }

    /// Waits until `frame_bytes` are free in the pool and takes them. The caller has checked
    /// `frame_bytes` against `socket.request.max.bytes`, which the pool is at least as large as.
    pub async fn acquire(&self, frame_bytes: usize) -> QueuedPermit {
        let Some(pool) = &self.pool else {
            return QueuedPermit { _permit: None };
        };
        // A frame's length came from an i32, so it fits; the pool is never closed.
        let permits = u32::try_from(frame_bytes).unwrap_or(u32::MAX);
        QueuedPermit {
            _permit: pool.clone().acquire_many_owned(permits).await.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_waits_until_earlier_bytes_are_given_back() {
        let pool = QueuedBytes::new(Some(100));
        let first = pool.acquire(60).await;
        let second = pool.acquire(40).await;
        let mut third = std::pin::pin!(pool.acquire(1));
        assert!(
            tokio::time::timeout(Duration::ZERO, &mut third)
                .await
                .is_err(),
            "the pool is full: the third request must wait"
        );
        assert!(
            pool.try_acquire(1).is_none(),
            "a full pool has nothing to take"
        );
        drop(first);
        let _third = third.await;
        assert!(
            pool.try_acquire(59).is_some(),
            "given back: 59 of the 60 bytes are free"
        );
        drop(second);
    }

    #[tokio::test]
    async fn no_bound_never_waits() {
        let pool = QueuedBytes::new(None);
        let _held = pool.acquire(usize::MAX).await;
        let _more = pool.acquire(1 << 30).await;
    }
}
