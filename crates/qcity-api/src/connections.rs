//! The API's connections: how many are open at once, and how long one that sends nothing is
//! kept.
//!
//! The API shares the process's open-file limit with the supervisor (each spawn takes a pipe
//! and a pidfd) and the store (SQLite opens its database, WAL and shared memory). An API that
//! accepts every connection can take the last descriptor: runners then fail to restart and the
//! healer cannot open the database. So connections are capped below the limit, leaving a
//! reserve; at the cap the listener stops accepting and further clients wait in the kernel's
//! backlog until a connection closes.
//!
//! There is one cap, not one per client: the API listens on loopback only, where every peer is
//! this machine and a client can take any address of 127.0.0.0/8 (a per-address cap would be
//! bypassed as the login limit once was).
//!
//! A connection that has not sent a whole request head within `header_timeout` is closed:
//! a slow-header client, and a kept-alive one idle between requests (hyper's timer runs
//! whenever it waits for a head), so silent connections give their slot back. A response
//! being written (the event stream) is not waiting for a head and is not cut.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// How many connections the API keeps open, and how long it waits for a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max: usize,
    pub header_timeout: Duration,
}

impl ConnectionLimits {
    /// More than a dashboard, the tray and the CLI ever hold (a browser opens at most six per
    /// origin); few enough that the API cannot crowd out the supervisor.
    pub const MAX: usize = 1024;
    /// Below this the API would be unusable; a limit this low is the operator's to raise.
    pub const MIN: usize = 8;
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

    /// Limits that leave `reserve` of a process's `open_files` limit to everything else.
    pub fn within(open_files: u64, reserve: u64) -> Self {
        let room = usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX);
        ConnectionLimits {
            max: room.clamp(Self::MIN, Self::MAX),
            ..Self::default()
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max: Self::MAX,
            header_timeout: Self::HEADER_TIMEOUT,
        }
    }
}

/// Accepts connections on `listener` within `limits` and serves `router` on each (HTTP/1.1),
/// until the task is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max));
    let mut warned = false;
    loop {
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset before it was
                // accepted: neither ends the server. A pause keeps a full table from
                // spinning this loop while descriptors are freed.
                if !warned {
                    tracing::warn!(%error, "cannot accept an API connection");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        warned = false;
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                router.clone().call(req)
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "API connection ended");
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_and_stays_within_bounds() {
        assert_eq!(ConnectionLimits::within(1024, 224).max, 800);
        assert_eq!(ConnectionLimits::within(1_048_576, 224).max, 1024);
        assert_eq!(
            ConnectionLimits::within(256, 900).max,
            ConnectionLimits::MIN
        );
    }
}
