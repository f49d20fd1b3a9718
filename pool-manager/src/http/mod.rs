//! The HTTP status service (feature `http`): `/metrics`, `/health`, `/stats`, `/dashboard`.
//!
//! | path | what |
//! |------|------|
//! | `/metrics` | OpenMetrics text of every pool ([`metrics`](crate::metrics)) for Prometheus |
//! | `/health` | JSON: each pool's state; **503** when any pool is critical (circuit breaker not closed) |
//! | `/stats` | JSON: [`ManagerStats`](crate::ManagerStats), every pool's numbers |
//! | `/dashboard` | one self-contained HTML page (no external asset) that polls `/stats`: per pool, connections, waiting callers and wait p50/p99 charts on a time axis; a STALE marker when answers stop |
//!
//! Mount [`router`] into your own axum application, or run it alone with [`serve`]:
//!
//! ```
//! use pool_core::Pool;
//! use pool_core::testing::TestConnector;
//! use pool_manager::PoolManager;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = PoolManager::new();
//! manager.register("orders", Pool::builder(TestConnector::new()).min_size(1).build().await?)?;
//! let server = pool_manager::http::serve(manager, "127.0.0.1:0").await?;
//! println!("metrics at http://{}/metrics", server.local_addr());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

mod handlers;

use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::manager::PoolManager;

/// The routes of the status service, with `manager` as their state.
pub fn router(manager: PoolManager) -> Router {
    Router::new()
        .route("/metrics", get(handlers::metrics))
        .route("/health", get(handlers::health))
        .route("/stats", get(handlers::stats))
        .route("/dashboard", get(handlers::dashboard))
        .with_state(manager)
}

/// A running status service; see [`serve`].
#[derive(Debug)]
#[must_use = "dropping the Server handle leaves the service running until the runtime ends"]
pub struct Server {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for it to end.
    pub async fn shutdown(self) -> io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(io::Error::other)?
    }
}

/// Serves [`router`] on `addr` (use port 0 for any free port) in a background task.
///
/// An address that cannot be bound (taken, not local, no permission) is an error of the
/// operating system's kind (`AddrInUse`, ...) whose message names the address.
pub async fn serve(manager: PoolManager, addr: impl ToSocketAddrs) -> io::Result<Server> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
    let listener = TcpListener::bind(addrs.as_slice()).await.map_err(|e| {
        let tried = addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        io::Error::new(
            e.kind(),
            format!("the pool status service could not listen on {tried}: {e}"),
        )
    })?;
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(manager);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%local_addr, "pool status service listening");
    Ok(Server {
        local_addr,
        stop,
        task,
    })
}
