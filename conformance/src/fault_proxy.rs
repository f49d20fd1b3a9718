//! [`FaultProxy`]: a TCP proxy on loopback that sits between a pool and its real database server
//! and misbehaves on command, so the pool's reaction to a failing network can be tested against
//! a real server.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use conformance::fault_proxy::{Fault, FaultProxy};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let proxy = FaultProxy::start("127.0.0.1:5432".parse().unwrap()).await?;
//! // Point the adapter at the proxy instead of the server:
//! let url = format!("postgres://postgres@127.0.0.1:{}/test", proxy.port());
//! # let _ = url;
//! proxy.set(Fault::Latency(Duration::from_millis(200))); // every chunk 200 ms late
//! proxy.set(Fault::Blackhole); // sockets stay open, nothing moves
//! proxy.set(Fault::Refuse); // every connection reset, new ones reset at once
//! proxy.set(Fault::Pass); // back to normal
//! println!("{} connections accepted", proxy.accepted());
//! # Ok(()) }
//! ```
//!
//! What each [`Fault`] does to connections that are already open and to new ones:
//!
//! | fault | open connections | new connections |
//! |---|---|---|
//! | [`Pass`](Fault::Pass) | forwarded | accepted and forwarded |
//! | [`Latency`](Fault::Latency) | every chunk delayed | accepted, every chunk delayed |
//! | [`Reset`](Fault::Reset) | reset (RST) at once | accepted, then forwarded (a one-shot cut) |
//! | [`Blackhole`](Fault::Blackhole) | kept open, nothing forwarded | accepted and held silently |
//! | [`Refuse`](Fault::Refuse) | reset at once | accepted and reset at once (counted) |
//! | [`Unreachable`](Fault::Unreachable) | reset at once | not accepted: the port stops listening, connects get `ECONNREFUSED` |
//!
//! Bytes held back by a blackhole are delivered once it lifts, as TCP retransmission would; a
//! peer that gave up in the meantime has usually closed its socket by then.
//!
//! Every connection the proxy accepts is counted ([`accepted`](FaultProxy::accepted)), so a
//! test can tell how many connection attempts a pool made while the database was "down"
//! (use [`Fault::Refuse`] for that: [`Fault::Unreachable`] accepts nothing to count).
//! Dropping the proxy closes its port and resets every connection through it.
//!
//! It only binds `127.0.0.1`. Third-party adapters can use it from their own tests through
//! this crate (`conformance = { ..., default-features = false }` leaves out this workspace's
//! adapters).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the proxy treats traffic; see the [module documentation](self) for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Forward everything as it comes.
    Pass,
    /// Forward everything, each chunk this much later (in both directions).
    Latency(Duration),
    /// Reset every open connection once; new connections are forwarded normally.
    Reset,
    /// Forward nothing; keep every socket open and accept new ones, silently.
    Blackhole,
    /// Reset every open connection and every new one right after accepting it: the database
    /// "vanished", and each attempt is still counted.
    Refuse,
    /// Reset every open connection and stop listening: connects are refused by the kernel.
    Unreachable,
}

/// What every connection task and the accept loop watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Control {
    fault: Fault,
    /// Bumped by every fault that resets open connections.
    resets: u64,
    /// The proxy is being dropped.
    shut_down: bool,
}

struct Shared {
    control: watch::Sender<Control>,
    accepted: AtomicU64,
    open: AtomicUsize,
    upstream: SocketAddr,
}

/// A misbehaving TCP proxy on `127.0.0.1`; see the [module documentation](self).
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("fault", &self.fault())
            .field("accepted", &self.accepted())
            .field("open", &self.open_connections())
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free port of `127.0.0.1` that forwards to `upstream`, passing
    /// traffic until told otherwise. Must be called within a tokio runtime.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (control, _) = watch::channel(Control {
            fault: Fault::Pass,
            resets: 0,
            shut_down: false,
        });
        let shared = Arc::new(Shared {
            control,
            accepted: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            upstream,
        });
        let accept_loop = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        Ok(Self {
            addr,
            shared,
            accept_loop,
        })
    }

    /// Where clients connect: `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Switches to `fault`, at once, for open and new connections.
    pub fn set(&self, fault: Fault) {
        self.shared.control.send_modify(|c| {
            if matches!(fault, Fault::Reset | Fault::Refuse | Fault::Unreachable) {
                c.resets += 1;
            }
            c.fault = match fault {
                // A reset is one cut: afterwards traffic flows again.
                Fault::Reset => Fault::Pass,
                other => other,
            };
        });
    }

    /// The fault in force ([`Fault::Reset`] reads back as [`Fault::Pass`]: it is a one-shot).
    pub fn fault(&self) -> Fault {
        self.shared.control.borrow().fault
    }

    /// Connections accepted since the proxy started (including those reset at once).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// A function that reads [`accepted`](Self::accepted), for tasks that outlive a borrow of
    /// the proxy.
    pub fn accepted_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.accepted.load(Ordering::SeqCst)
    }

    /// Client connections open through the proxy right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.control.send_modify(|c| {
            c.shut_down = true;
            c.resets += 1;
        });
        self.accept_loop.abort();
    }
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut control = shared.control.subscribe();
    let mut listener = Some(listener);
    loop {
        let now = *control.borrow_and_update();
        if now.shut_down {
            return;
        }
        match (&listener, now.fault) {
            (Some(_), Fault::Unreachable) => listener = None,
            (None, fault) if fault != Fault::Unreachable => {
                // The port was ours a moment ago; retry briefly in case the kernel lags.
                for _ in 0..50 {
                    if let Ok(l) = TcpListener::bind(addr).await {
                        listener = Some(l);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            _ => {}
        }
        let Some(l) = &listener else {
            if control.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((client, _)) = accepted {
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    shared.open.fetch_add(1, Ordering::SeqCst);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        serve(client, &shared).await;
                        shared.open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
            changed = control.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Resets a socket: SO_LINGER 0, then close, so the peer sees `ECONNRESET`.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// One client connection, from accept to close or reset.
async fn serve(client: TcpStream, shared: &Shared) {
    let mut control = shared.control.subscribe();
    let start = *control.borrow_and_update();
    let _ = client.set_nodelay(true);
    if matches!(start.fault, Fault::Refuse | Fault::Unreachable) || start.shut_down {
        reset(client);
        return;
    }
    // A blackholed connect is held: the client waits for a greeting that never comes.
    let resets = start.resets;
    if !wait_flowing(&mut control, resets).await {
        reset(client);
        return;
    }
    let upstream = match TcpStream::connect(shared.upstream).await {
        Ok(s) => s,
        Err(_) => {
            reset(client);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let mut client = client;
    let mut upstream = upstream;
    let cut = {
        let (mut cr, mut cw) = client.split();
        let (mut ur, mut uw) = upstream.split();
        let up = pump(&mut cr, &mut uw, shared.control.subscribe(), resets);
        let down = pump(&mut ur, &mut cw, shared.control.subscribe(), resets);
        let mut watcher = shared.control.subscribe();
        tokio::select! {
            _ = async { tokio::join!(up, down) } => false,
            _ = wait_reset(&mut watcher, resets) => true,
        }
    };
    if cut {
        reset(client);
        reset(upstream);
    }
}

/// Waits until traffic may flow (not blackholed). False when a reset or shutdown came first.
async fn wait_flowing(control: &mut watch::Receiver<Control>, resets: u64) -> bool {
    loop {
        let now = *control.borrow_and_update();
        if now.shut_down || now.resets != resets {
            return false;
        }
        if now.fault != Fault::Blackhole {
            return true;
        }
        if control.changed().await.is_err() {
            return false;
        }
    }
}

/// Resolves once a reset (or shutdown) is ordered after `resets`.
async fn wait_reset(control: &mut watch::Receiver<Control>, resets: u64) {
    loop {
        {
            let now = control.borrow_and_update();
            if now.shut_down || now.resets != resets {
                return;
            }
        }
        if control.changed().await.is_err() {
            return;
        }
    }
}

/// Copies one direction, obeying blackholes and latency; ends at EOF or an error.
async fn pump<R, W>(from: &mut R, to: &mut W, mut control: watch::Receiver<Control>, resets: u64)
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_flowing(&mut control, resets).await {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // Read while flowing, but a blackhole may have started since: hold the bytes.
        if !wait_flowing(&mut control, resets).await {
            return;
        }
        let latency = match control.borrow().fault {
            Fault::Latency(d) => d,
            _ => Duration::ZERO,
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> io::Result<()> {
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok(())
    }

    #[tokio::test]
    async fn every_fault_does_what_it_says() {
        tokio::time::timeout(Duration::from_secs(20), faults())
            .await
            .expect("the proxy test finishes");
    }

    async fn faults() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut a).await.unwrap();

        proxy.set(Fault::Latency(Duration::from_millis(100)));
        let t = tokio::time::Instant::now();
        round_trip(&mut a).await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "both directions delayed"
        );

        proxy.set(Fault::Blackhole);
        let stalled = tokio::time::timeout(Duration::from_millis(200), round_trip(&mut a)).await;
        assert!(stalled.is_err(), "a blackhole forwards nothing");
        let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
        b.write_all(b"ping").await.unwrap();
        proxy.set(Fault::Pass);
        // The held bytes arrive once the blackhole lifts.
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), a.read_exact(&mut buf))
            .await
            .expect("held bytes delivered")
            .unwrap();
        round_trip(&mut a).await.unwrap();

        proxy.set(Fault::Reset);
        assert!(
            round_trip(&mut a).await.is_err(),
            "reset cuts open connections"
        );
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut c).await.unwrap();

        let before = proxy.accepted();
        proxy.set(Fault::Refuse);
        assert!(round_trip(&mut c).await.is_err());
        let mut d = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut d).await.is_err(), "refused at once");
        assert_eq!(proxy.accepted(), before + 1, "and counted");

        proxy.set(Fault::Unreachable);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = TcpStream::connect(proxy.addr()).await;
        assert!(refused.is_err(), "the port stops listening");
        proxy.set(Fault::Pass);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut e = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut e).await.unwrap();
        drop(b);
    }
}
