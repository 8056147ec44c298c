//! The end of a request: its latency goes into the metrics and, for the clients that
//! `--request-log-client-ids` names, a line into the request log (Kafka's
//! `kafka.request.logger`, which is all clients or none; here one client can be followed on a
//! busy broker).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::dispatch::Decoded;
use crate::metrics::BrokerMetrics;

/// Which clients' requests are logged: by client id, `*` for every client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLogFilter(BTreeSet<String>);

impl RequestLogFilter {
    /// A comma-separated list of client ids; `*` names every client.
    pub fn parse(list: &str) -> Self {
        RequestLogFilter(
            list.split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    fn logs(&self, client_id: &str) -> bool {
        !self.0.is_empty() && (self.0.contains("*") || self.0.contains(client_id))
    }
}

/// A request being served, from the moment it may run.
pub struct RequestEnd {
    metrics: Arc<BrokerMetrics>,
    key: ApiKey,
    started: Instant,
    line: Option<RequestLine>,
}

/// What the request log says of a request, besides its latency.
struct RequestLine {
    client_id: String,
    peer: SocketAddr,
    version: i16,
    correlation_id: i32,
}

impl RequestEnd {
    pub fn start(broker: &Broker, peer: SocketAddr, decoded: &Decoded) -> Self {
        let (key, version, correlation_id) = decoded.response_framing();
        let client_id = decoded.client_id();
        let line = broker
            .config
            .request_log_client_ids
            .logs(client_id)
            .then(|| RequestLine {
                client_id: client_id.to_string(),
                peer,
                version,
                correlation_id,
            });
        RequestEnd {
            metrics: broker.metrics.clone(),
            key,
            started: Instant::now(),
            line,
        }
    }

    /// The answer is ready (or, for acks=0, there is none).
    pub fn finish(self) {
        let elapsed = self.started.elapsed();
        self.metrics.observe_request(self.key, elapsed);
        if let Some(line) = self.line {
            tracing::info!(
                target: "vltava::request",
                client_id = %line.client_id,
                peer = %line.peer,
                api = ?self.key,
                version = line.version,
                correlation_id = line.correlation_id,
                elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_names_clients_or_every_client() {
        let none = RequestLogFilter::default();
        assert!(!none.logs("app"));
        let some = RequestLogFilter::parse("app, billing,");
        assert!(some.logs("app") && some.logs("billing"));
        assert!(!some.logs("other") && !some.logs(""));
        let every = RequestLogFilter::parse("*");
        assert!(every.logs("other") && every.logs(""));
    }
}
