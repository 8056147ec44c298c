//! A SASL listener before authentication, spoken over raw TCP.
//!
//! Guards against: an unauthenticated client reaching any API but ApiVersions and the SASL
//! ones; a large length claimed before authentication being waited for or allocated
//! (CVE-2022-34917: `sasl.server.max.receive.size`, 512 KiB); random or mutated SASL frames
//! taking the broker down or leaving it unable to authenticate the next client; a wrong
//! password answered with anything but SASL_AUTHENTICATION_FAILED and a closed connection.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::wire::{connect, exchange, request_frame};
use common::{TestResult, XorShift};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, RequestKind, ResponseKind,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// How long the broker may take to close a connection it should refuse.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Mutated exchanges tried; each on its own connection.
const FUZZ_ROUNDS: usize = 300;
const FUZZ_SEED: u64 = 0x5a5a_1818_c0de_0001;
const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                    user_alice=\"alice-secret\";";

fn start() -> std::io::Result<vltava_testkit::Broker> {
    vltava_testkit::start_broker(&[
        "--listeners",
        "SASL_PLAINTEXT://127.0.0.1:0",
        "--plain-sasl-jaas-config",
        JAAS,
    ])
}

/// Succeeds once the broker has closed `stream`; bytes sent before closing are ignored.
fn expect_closed(mut stream: TcpStream, what: &str) -> TestResult {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ok(()),
        }
    }
    Err(format!("{what}: connection still open after {CLOSE_TIMEOUT:?}").into())
}

fn handshake(mechanism: &'static str) -> RequestKind {
    RequestKind::SaslHandshake(
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
    )
}

fn authenticate(token: &'static [u8]) -> RequestKind {
    RequestKind::SaslAuthenticate(
        SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(token)),
    )
}

/// Handshake PLAIN, then authenticate with `token`; the SaslAuthenticate answer.
fn plain_exchange(
    bootstrap: &str,
    token: &'static [u8],
) -> Result<(TcpStream, ResponseKind), common::BoxError> {
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    let ResponseKind::SaslHandshake(answer) = exchange(
        &mut stream,
        ApiKey::SaslHandshake,
        1,
        1,
        &handshake("PLAIN"),
    )?
    else {
        return Err("not a SaslHandshake response".into());
    };
    assert_eq!(answer.error_code, 0);
    assert!(answer.mechanisms.iter().any(|m| m.as_str() == "PLAIN"));
    let response = exchange(
        &mut stream,
        ApiKey::SaslAuthenticate,
        2,
        2,
        &authenticate(token),
    )?;
    Ok((stream, response))
}

/// The broker still authenticates a client with the right password, then serves it.
fn still_authenticates(bootstrap: &str) -> TestResult {
    let (mut stream, response) = plain_exchange(bootstrap, b"\0alice\0alice-secret")?;
    let ResponseKind::SaslAuthenticate(answer) = response else {
        return Err("not a SaslAuthenticate response".into());
    };
    assert_eq!(answer.error_code, 0, "{:?}", answer.error_message);
    let metadata = RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![])));
    let ResponseKind::Metadata(metadata) =
        exchange(&mut stream, ApiKey::Metadata, 12, 3, &metadata)?
    else {
        return Err("not a Metadata response".into());
    };
    assert_eq!(metadata.brokers.len(), 1);
    Ok(())
}

#[test]
fn only_api_versions_and_sasl_are_served_before_authentication() -> TestResult {
    let broker = start()?;
    let bootstrap = broker.bootstrap();
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    let versions = RequestKind::ApiVersions(ApiVersionsRequest::default());
    let ResponseKind::ApiVersions(versions) =
        exchange(&mut stream, ApiKey::ApiVersions, 3, 1, &versions)?
    else {
        return Err("not an ApiVersions response".into());
    };
    let handshake_key = ApiKey::SaslHandshake as i16;
    assert!(versions.api_keys.iter().any(|k| k.api_key == handshake_key));
    let metadata = request_frame(ApiKey::Metadata, 12, 2, |buffer| {
        MetadataRequest::default()
            .encode(buffer, 12)
            .map_err(|e| e.to_string().into())
    })?;
    stream.write_all(&metadata)?;
    expect_closed(stream, "Metadata before authentication")?;
    still_authenticates(bootstrap)
}

#[test]
fn a_frame_above_the_pre_authentication_limit_closes_the_connection() -> TestResult {
    let broker = start()?;
    let bootstrap = broker.bootstrap();
    // 1 MiB: far below socket.request.max.bytes, above sasl.server.max.receive.size. Only the
    // length is sent: the broker must refuse it on the length alone.
    let mut stream = connect(bootstrap, CLOSE_TIMEOUT)?;
    stream.write_all(&(1024 * 1024_i32).to_be_bytes())?;
    expect_closed(stream, "a 1 MiB frame before authentication")?;
    still_authenticates(bootstrap)
}

#[test]
fn a_wrong_plain_password_fails_and_closes_the_connection() -> TestResult {
    let broker = start()?;
    let (stream, response) = plain_exchange(broker.bootstrap(), b"\0alice\0wrong")?;
    let ResponseKind::SaslAuthenticate(answer) = response else {
        return Err("not a SaslAuthenticate response".into());
    };
    assert_eq!(
        answer.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    assert_eq!(
        answer.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    expect_closed(stream, "after a failed authentication")
}

/// The frames of a valid exchange, to mutate.
fn valid_frames() -> Result<Vec<Vec<u8>>, common::BoxError> {
    let mut frames = Vec::new();
    for (key, version, request) in [
        (
            ApiKey::ApiVersions,
            3,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ),
        (ApiKey::SaslHandshake, 1, handshake("PLAIN")),
        (ApiKey::SaslHandshake, 1, handshake("SCRAM-SHA-512")),
        (
            ApiKey::SaslAuthenticate,
            2,
            authenticate(b"\0alice\0alice-secret"),
        ),
        (
            ApiKey::SaslAuthenticate,
            0,
            authenticate(b"n,,n=alice,r=abcdefgh"),
        ),
        (
            ApiKey::SaslAuthenticate,
            1,
            authenticate(b"c=biws,r=abc,p=AAAA"),
        ),
    ] {
        frames.push(request_frame(key, version, 9, |buffer| {
            request
                .encode(buffer, version)
                .map_err(|e| e.to_string().into())
        })?);
    }
    Ok(frames)
}

#[test]
fn random_and_mutated_pre_authentication_frames_never_take_the_broker_down() -> TestResult {
    let broker = start()?;
    let bootstrap = broker.bootstrap();
    let frames = valid_frames()?;
    let mut random = XorShift(FUZZ_SEED);
    for round in 0..FUZZ_ROUNDS {
        let mut bytes = Vec::new();
        for _ in 0..1 + random.next_u64() % 3 {
            let pick = (random.next_u64() % (frames.len() as u64 + 1)) as usize;
            let mut frame = match frames.get(pick) {
                Some(frame) => frame.clone(),
                // Pure noise, with a plausible small length.
                None => {
                    let len = 4 + random.next_u64() % 64;
                    let mut noise = (len as i32).to_be_bytes().to_vec();
                    noise.extend(random.bytes(len as usize));
                    noise
                }
            };
            for _ in 0..random.next_u64() % 4 {
                let at = (random.next_u64() % frame.len() as u64) as usize;
                frame[at] = random.next_u64() as u8;
            }
            bytes.extend(frame);
        }
        let mut stream = connect(bootstrap, Duration::from_millis(200))?;
        let _ = stream.write_all(&bytes);
        // Read what comes back (if anything) without waiting for a close: a mutated length
        // may leave the broker waiting for more bytes, which is its right.
        let mut sink = [0u8; 4096];
        let _ = stream.read(&mut sink);
        drop(stream);
        if round % 50 == 49 {
            still_authenticates(bootstrap)
                .map_err(|e| format!("round {round} (seed {FUZZ_SEED:#x}): {e}"))?;
        }
    }
    still_authenticates(bootstrap)
}
