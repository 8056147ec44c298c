//! A TCP proxy in front of a broker that can lose the answer to one Produce request: it passes
//! the request on, reads the broker's answer, and closes the client's connection instead of
//! passing the answer back, as a connection that breaks at the worst moment does. The request
//! was written; the client cannot know it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Kafka's Produce API key.
const PRODUCE: i16 = 0;

#[derive(Debug, Default)]
struct Shared {
    upstream: OnceLock<String>,
    /// Lose the answer to the next Produce request.
    armed: AtomicBool,
    /// Answers lost so far.
    lost: AtomicUsize,
}

#[derive(Debug)]
pub struct LossyProxy {
    address: String,
    shared: Arc<Shared>,
}

impl LossyProxy {
    /// Listens on a free loopback port; connections are refused until `forward_to`.
    pub fn bind() -> std::io::Result<LossyProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        // Ends with the test process, as the broker behind it does.
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || relay(client, &shared));
            }
        });
        Ok(LossyProxy { address, shared })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn forward_to(&self, upstream: &str) {
        let _ = self.shared.upstream.set(upstream.to_string());
    }

    /// The answer to the next Produce request, on any connection, is lost.
    pub fn lose_next_produce_answer(&self) {
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    pub fn answers_lost(&self) -> usize {
        self.shared.lost.load(Ordering::SeqCst)
    }
}

/// One client connection: requests go up as they come, answers come down unless doomed.
fn relay(client: TcpStream, shared: &Arc<Shared>) {
    let Some(upstream) = shared.upstream.get() else {
        return;
    };
    let Ok(broker) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut from_client), Ok(mut to_broker)) = (client.try_clone(), broker.try_clone()) else {
        return;
    };
    // The correlation id whose answer is to be lost, set before its request goes up.
    let doomed: Arc<Mutex<Option<i32>>> = Arc::default();
    let marking = Arc::clone(&doomed);
    let arming = Arc::clone(shared);
    std::thread::spawn(move || {
        while let Some(frame) = read_frame(&mut from_client) {
            let api_key = frame.get(0..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
            let correlation = frame
                .get(4..8)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            if api_key == Some(PRODUCE) && arming.armed.swap(false, Ordering::SeqCst) {
                *marking.lock().unwrap_or_else(|e| e.into_inner()) = correlation;
            }
            if write_frame(&mut to_broker, &frame).is_err() {
                break;
            }
        }
        let _ = to_broker.shutdown(Shutdown::Both);
    });
    let (mut from_broker, mut to_client) = (broker, client);
    while let Some(frame) = read_frame(&mut from_broker) {
        let correlation = frame
            .get(0..4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if correlation.is_some() && *doomed.lock().unwrap_or_else(|e| e.into_inner()) == correlation
        {
            shared.lost.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if write_frame(&mut to_client, &frame).is_err() {
            break;
        }
    }
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = from_broker.shutdown(Shutdown::Both);
}

/// One size-prefixed Kafka frame's body; `None` at the end of the stream or on a bad length.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let size = usize::try_from(i32::from_be_bytes(size)).ok()?;
    let mut body = vec![0u8; size.min(64 << 20)];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

fn write_frame(stream: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let size = i32::try_from(body.len()).unwrap_or(i32::MAX);
    stream.write_all(&size.to_be_bytes())?;
    stream.write_all(body)
}
