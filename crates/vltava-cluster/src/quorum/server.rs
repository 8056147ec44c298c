//! The controller listener: accepts voters' RPCs and hands each to the local Raft. One request
//! at a time per connection (a peer's replication stream is itself sequential).

use openraft::Raft;
use tokio::net::{TcpListener, TcpStream};

use super::MetadataRaft;
use super::active::ControllerService;
use super::rpc::{self, Request, Response};

/// Serves `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, raft: Raft<MetadataRaft>, controller: ControllerService) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "controller listener: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let raft = raft.clone();
        let controller = controller.clone();
        tokio::spawn(async move {
            if let Err(error) = serve_connection(stream, raft, controller).await {
                tracing::debug!(%peer, %error, "controller connection closed");
            }
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    raft: Raft<MetadataRaft>,
    controller: ControllerService,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    while let Some(request) = rpc::read_frame::<_, Request>(&mut stream).await? {
        let response = match request {
            Request::AppendEntries(r) => Response::AppendEntries(raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(raft.vote(r).await),
            Request::InstallSnapshot(r) => {
                Response::InstallSnapshot(raft.install_snapshot(r).await)
            }
            Request::Controller(r) => Response::Controller(controller.call(r).await),
        };
        rpc::write_frame(&mut stream, &response).await?;
    }
    Ok(())
}
