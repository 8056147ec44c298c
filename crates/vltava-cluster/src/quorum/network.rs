//! openraft's network over TCP: one connection per peer, opened on first use and dropped on
//! any error (the next call reconnects), one request at a time with openraft's deadline.
//!
//! The connection is taken out of the peer for the length of a call and put back only after a
//! whole answer was read. openraft cancels a call by dropping it when its own timeout (the
//! heartbeat interval) fires first; a connection left behind with a request sent and its answer
//! unread would hand that stale answer to the next call (an old "success" taken for a newer
//! append). Dropped with the call, it is closed instead.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tokio::net::TcpStream;

use super::rpc::{self, Request, Response};
use super::status::PeerContacts;
use super::{MetadataRaft, NodeId};

/// How long connecting to a peer may take before the call counts it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Hands openraft a [`PeerConnection`] per peer; addresses come from the voters' `BasicNode`s.
#[derive(Debug, Clone, Default)]
pub struct TcpNetwork {
    /// Addresses known from configuration, used when the membership's node has none.
    pub addresses: BTreeMap<NodeId, String>,
    /// Every answer from a peer is noted here (DescribeQuorum's last fetch time).
    pub contacts: PeerContacts,
}

impl RaftNetworkFactory<MetadataRaft> for TcpNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerConnection {
        let address = if node.addr.is_empty() {
            self.addresses.get(&target).cloned().unwrap_or_default()
        } else {
            node.addr.clone()
        };
        PeerConnection {
            target,
            address,
            stream: None,
            contacts: self.contacts.clone(),
        }
    }
}

#[derive(Debug)]
pub struct PeerConnection {
    target: NodeId,
    address: String,
    stream: Option<TcpStream>,
    contacts: PeerContacts,
}

type CallError<E> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

fn unreachable(error: std::io::Error) -> Unreachable {
    Unreachable::new(&error)
}

impl PeerConnection {
    /// Sends `request`, waits for the answer within `deadline`; any failure drops the stream.
    async fn call(
        &mut self,
        request: &Request,
        deadline: Duration,
    ) -> Result<Response, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let open = self.stream.take();
        let address = &self.address;
        let exchange = async move {
            let mut stream = match open {
                Some(stream) => stream,
                None => {
                    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
                        .await
                        .map_err(|_| {
                            std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                        })??;
                    stream.set_nodelay(true)?;
                    stream
                }
            };
            rpc::write_frame(&mut stream, request).await?;
            let response = rpc::read_frame::<_, Response>(&mut stream)
                .await?
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "peer closed")
                })?;
            Ok::<_, std::io::Error>((stream, response))
        };
        match tokio::time::timeout(deadline, exchange).await {
            Ok(Ok((stream, response))) => {
                self.stream = Some(stream);
                self.contacts.heard(self.target);
                Ok(response)
            }
            Ok(Err(error)) => {
                self.contacts.lost(self.target, &self.address, &error);
                Err(RPCError::Unreachable(unreachable(error)))
            }
            Err(_) => {
                let error = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from node {} within {deadline:?}", self.target),
                );
                self.contacts.lost(self.target, &self.address, &error);
                Err(RPCError::Network(NetworkError::new(&error)))
            }
        }
    }

    fn unexpected<E: std::error::Error>(&self) -> CallError<E> {
        RPCError::Network(NetworkError::new(&std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("node {} answered another rpc", self.target),
        )))
    }

    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, CallError<E>> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Re-types a transport error for an rpc whose remote error type differs.
fn transport<E: std::error::Error>(
    error: RPCError<NodeId, BasicNode, RaftError<NodeId>>,
) -> CallError<E> {
    match error {
        RPCError::Timeout(e) => RPCError::Timeout(e),
        RPCError::Unreachable(e) => RPCError::Unreachable(e),
        RPCError::PayloadTooLarge(e) => RPCError::PayloadTooLarge(e),
        RPCError::Network(e) => RPCError::Network(e),
        RPCError::RemoteError(e) => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetwork<MetadataRaft> for PeerConnection {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<MetadataRaft>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, CallError<openraft::error::Infallible>> {
        match self
            .call(&Request::AppendEntries(request), option.hard_ttl())
            .await?
        {
            Response::AppendEntries(result) => self.remote(result),
            _ => Err(self.unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<MetadataRaft>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, CallError<InstallSnapshotError>> {
        let response = self
            .call(&Request::InstallSnapshot(request), option.hard_ttl())
            .await
            .map_err(transport)?;
        match response {
            Response::InstallSnapshot(result) => self.remote(result),
            _ => Err(self.unexpected()),
        }
    }

    async fn vote(
        &mut self,
        request: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, CallError<openraft::error::Infallible>> {
        match self
            .call(&Request::Vote(request), option.hard_ttl())
            .await?
        {
            Response::Vote(result) => self.remote(result),
            _ => Err(self.unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use openraft::Vote;
    use tokio::net::TcpListener;

    use super::*;

    /// A peer that answers each vote request with the request's sequence number as the term,
    /// the first one late.
    async fn slow_first_answer_peer() -> std::io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let seen = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    while let Ok(Some(Request::Vote(_))) =
                        rpc::read_frame::<_, Request>(&mut stream).await
                    {
                        let sequence = seen.fetch_add(1, Ordering::SeqCst) + 1;
                        if sequence == 1 {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        let answer = VoteResponse::new(Vote::new(sequence, 2), None, true);
                        let response = Response::Vote(Ok(answer));
                        if rpc::write_frame(&mut stream, &response).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(address)
    }

    #[tokio::test]
    async fn a_call_cancelled_by_openraft_leaves_no_stale_answer_for_the_next() {
        let address = slow_first_answer_peer().await.expect("peer listens");
        let mut peer = PeerConnection {
            target: 2,
            address,
            stream: None,
            contacts: PeerContacts::default(),
        };
        let request = || VoteRequest::new(Vote::new(9, 1), None);
        let option = || RPCOption::new(Duration::from_secs(2));
        // openraft's own timeout drops the call while the first answer is still on its way.
        let cancelled =
            tokio::time::timeout(Duration::from_millis(30), peer.vote(request(), option())).await;
        assert!(
            cancelled.is_err(),
            "the first call should have been cut short"
        );
        let answer = peer.vote(request(), option()).await.expect("second answer");
        assert_eq!(
            answer.vote.leader_id().term,
            2,
            "the second call got the first call's answer"
        );
    }
}
