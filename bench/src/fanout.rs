//! Idle client connections for the fan-out workload (W7): many clients connected to one broker
//! at once, as a fleet of services would be. Each connection sends one Metadata request (so the
//! broker has accepted and served it, not just completed the TCP handshake) and then stays open,
//! idle, while the measured producer runs; at the end each is asked again, to show that the
//! broker kept them all.

use std::net::TcpStream;

use anyhow::Context;

use crate::probe::{connect, metadata_round_trip, resolve};

/// Far above any fan-out this tool is meant for; each connection is a file descriptor here and
/// in the broker.
pub const CONNECTIONS_MAX: u32 = 20_000;

/// Open connections, each answered once.
pub struct IdleConnections {
    streams: Vec<TcpStream>,
}

impl IdleConnections {
    /// Opens `count` connections to the first broker of `bootstrap` (HOST:PORT[,HOST:PORT])
    /// one after another; fails on the first that is refused or not answered.
    pub fn open(bootstrap: &str, count: u32) -> anyhow::Result<IdleConnections> {
        anyhow::ensure!(
            count <= CONNECTIONS_MAX,
            "--idle-connections at most {CONNECTIONS_MAX}"
        );
        if count == 0 {
            return Ok(IdleConnections {
                streams: Vec::new(),
            });
        }
        let first = bootstrap.split(',').next().unwrap_or(bootstrap);
        let addr = resolve(first)?;
        let mut streams = Vec::with_capacity(count as usize);
        for i in 0..count {
            let mut stream = connect(addr).with_context(|| format!("idle connection {i}"))?;
            let answered = metadata_round_trip(&mut stream, 1)
                .with_context(|| format!("Metadata on idle connection {i}"))?;
            anyhow::ensure!(answered, "idle connection {i}: Metadata not answered");
            streams.push(stream);
        }
        Ok(IdleConnections { streams })
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// How many connections still answer a Metadata request.
    pub fn still_answering(&mut self) -> usize {
        self.streams
            .iter_mut()
            .filter_map(|stream| metadata_round_trip(stream, 2).ok())
            .filter(|answered| *answered)
            .count()
    }
}
