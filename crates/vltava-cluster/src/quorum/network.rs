//! openraft's network over TCP: one connection per peer, opened on first use and dropped on
//! any error (the next call reconnects), one request at a time with openraft's deadline.

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
        let exchange = async {
            if self.stream.is_none() {
                let stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
                        .await
                        .map_err(|_| {
                            std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                        })??;
                stream.set_nodelay(true)?;
                self.stream = Some(stream);
            }
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| std::io::Error::other("no stream"))?;
            rpc::write_frame(stream, request).await?;
            rpc::read_frame::<_, Response>(stream)
                .await?
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "peer closed")
                })
        };
        match tokio::time::timeout(deadline, exchange).await {
            Ok(Ok(response)) => {
                self.contacts.heard(self.target);
                Ok(response)
            }
            Ok(Err(error)) => {
                self.stream = None;
                self.contacts.lost(self.target, &self.address, &error);
                Err(RPCError::Unreachable(unreachable(error)))
            }
            Err(_) => {
                self.stream = None;
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
