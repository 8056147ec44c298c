//! How a node reaches the active controller: its own voter's service when it has one,
//! otherwise (or when told another voter leads) the leading voter's listener over TCP,
//! following "not controller" hints a bounded number of times.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::net::TcpStream;

use super::NodeId;
use super::active::{ControllerFailure, ControllerRequest, ControllerResult, ControllerService};
use super::rpc::{self, Request, Response};

/// Tries before giving up: each follows a leader hint or waits out an election.
const ATTEMPTS_MAX: usize = 20;
/// Pause between tries while no voter knows the leader (an election is under way).
const ELECTION_PAUSE: Duration = Duration::from_millis(100);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A voter cut off from this node (its packets dropped) never answers a connect: give up on
/// it well within a broker session (3 s), so that a heartbeat still reaches the new active
/// controller in time; waiting out CALL_TIMEOUT there fenced every broker after a leader was
/// cut off (bench/chaos-cluster --netns, isolate-node).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ControllerClient {
    /// Every voter's controller listener.
    pub voters: BTreeMap<NodeId, String>,
    /// This node's own voter, if it is one.
    pub local: Option<(NodeId, ControllerService)>,
}

impl ControllerClient {
    pub async fn call(&self, request: ControllerRequest) -> ControllerResult {
        let mut target = self
            .local
            .as_ref()
            .map(|(id, _)| *id)
            .or_else(|| self.voters.keys().next().copied());
        let mut last = ControllerFailure::NotController { leader: None };
        for attempt in 0..ATTEMPTS_MAX {
            let Some(voter) = target else {
                return Err(last);
            };
            let result = match &self.local {
                Some((id, service)) if *id == voter => service.call(request.clone()).await,
                _ => self.remote(voter, request.clone()).await,
            };
            match result {
                Err(ControllerFailure::NotController { leader }) => {
                    last = ControllerFailure::NotController { leader };
                    target = match leader {
                        Some(leader) if leader != voter => Some(leader),
                        // Nobody knows yet: ask the voters in turn while the election runs.
                        _ => {
                            tokio::time::sleep(ELECTION_PAUSE).await;
                            self.voters
                                .keys()
                                .nth((attempt + 1) % self.voters.len().max(1))
                                .copied()
                        }
                    };
                }
                Err(ControllerFailure::Unavailable(why)) => {
                    last = ControllerFailure::Unavailable(why);
                    tokio::time::sleep(ELECTION_PAUSE).await;
                    target = self
                        .voters
                        .keys()
                        .nth((attempt + 1) % self.voters.len().max(1))
                        .copied();
                }
                done => return done,
            }
        }
        Err(last)
    }

    async fn remote(&self, voter: NodeId, request: ControllerRequest) -> ControllerResult {
        let unavailable =
            |why: String| ControllerFailure::Unavailable(format!("voter {voter}: {why}"));
        let address = self
            .voters
            .get(&voter)
            .ok_or_else(|| unavailable("unknown voter".into()))?;
        let exchange = async {
            let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                })??;
            stream.set_nodelay(true)?;
            rpc::write_frame(&mut stream, &Request::Controller(request)).await?;
            rpc::read_frame::<_, Response>(&mut stream).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(Ok(Some(Response::Controller(result)))) => result,
            Ok(Ok(_)) => Err(unavailable("unexpected answer".into())),
            Ok(Err(error)) => Err(unavailable(error.to_string())),
            Err(_) => Err(unavailable("timed out".into())),
        }
    }
}
