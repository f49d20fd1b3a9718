//! Opening the socket of a session: hosts, addresses, timeouts and TCP options, as
//! tokio-postgres's own `connect` does them.
//!
//! The adapter dials itself instead of calling `Config::connect` so that it can put its
//! [`Tracked`](crate::wire::Tracked) stream between the driver and the socket; everything
//! `Config::connect` honours is honoured here: several hosts (`host=a,b`) with one port or one
//! per host, `hostaddr`, `load_balance_hosts=random`, every address a name resolves to,
//! `connect_timeout` per address, `TCP_NODELAY`, keepalives and `tcp_user_timeout`.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;
use tokio_postgres::Config;
use tokio_postgres::config::{Host, LoadBalanceHosts};

/// One place a session can be opened: what to dial and the name TLS checks.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) address: Address,
    /// The host name as configured (for TLS and messages); `None` for a Unix socket or a
    /// bare `hostaddr`.
    pub(crate) hostname: Option<String>,
}

/// A dialable address.
#[derive(Debug, Clone)]
pub(crate) enum Address {
    Tcp(SocketAddr),
    #[cfg(unix)]
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            Self::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A configured host before name resolution.
struct Configured {
    host: Host,
    hostname: Option<String>,
    port: u16,
}

/// Every address to try, in order: hosts as configured (shuffled with
/// `load_balance_hosts=random`), each name's addresses as the resolver gives them (shuffled
/// likewise). A name that does not resolve is skipped; the error names the last failure.
pub(crate) async fn targets(config: &Config) -> io::Result<Vec<Target>> {
    let mut configured = configured(config)?;
    let random = config.get_load_balance_hosts() == LoadBalanceHosts::Random;
    if random {
        fastrand::shuffle(&mut configured);
    }
    let mut targets = Vec::new();
    let mut last_error = None;
    for Configured {
        host,
        hostname,
        port,
    } in configured
    {
        match host {
            Host::Tcp(name) => match tokio::net::lookup_host((name.as_str(), port)).await {
                Ok(addresses) => {
                    let mut addresses: Vec<_> = addresses.collect();
                    if random {
                        fastrand::shuffle(&mut addresses);
                    }
                    targets.extend(addresses.into_iter().map(|a| Target {
                        address: Address::Tcp(a),
                        hostname: hostname.clone(),
                    }));
                }
                Err(e) => {
                    last_error = Some(io::Error::new(
                        e.kind(),
                        format!("could not resolve `{name}`: {e}"),
                    ))
                }
            },
            #[cfg(unix)]
            Host::Unix(dir) => targets.push(Target {
                address: Address::Unix(dir.join(format!(".s.PGSQL.{port}"))),
                hostname: None,
            }),
        }
    }
    match (targets.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve any addresses",
        )),
        _ => Ok(targets),
    }
}

/// The configured hosts, paired with their `hostaddr` and port as libpq pairs them.
fn configured(config: &Config) -> io::Result<Vec<Configured>> {
    let hosts = config.get_hosts();
    let hostaddrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    if hosts.is_empty() && hostaddrs.is_empty() {
        return Err(invalid("both host and hostaddr are missing".into()));
    }
    if !hosts.is_empty() && !hostaddrs.is_empty() && hosts.len() != hostaddrs.len() {
        return Err(invalid(format!(
            "number of hosts ({}) is different from number of hostaddrs ({})",
            hosts.len(),
            hostaddrs.len()
        )));
    }
    let count = hosts.len().max(hostaddrs.len());
    if ports.len() > 1 && ports.len() != count {
        return Err(invalid("invalid number of ports".into()));
    }
    Ok((0..count)
        .map(|i| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            let hostname = match hosts.get(i) {
                Some(Host::Tcp(name)) => Some(name.clone()),
                _ => None,
            };
            let host = match (hostaddrs.get(i), hosts.get(i)) {
                (Some(ip), _) => Host::Tcp(ip.to_string()),
                (None, Some(host)) => host.clone(),
                (None, None) => unreachable!("count is the longer of the two lists"),
            };
            Configured {
                host,
                hostname,
                port,
            }
        })
        .collect())
}

/// Connects to `address` within the configured connect timeout and sets the socket options.
pub(crate) async fn dial(address: &Address, config: &Config) -> io::Result<Plain> {
    let timeout = config.get_connect_timeout().copied();
    match address {
        Address::Tcp(addr) => {
            let stream = within(timeout, TcpStream::connect(addr)).await?;
            stream.set_nodelay(true)?;
            let socket = SockRef::from(&stream);
            #[cfg(target_os = "linux")]
            if let Some(limit) = config.get_tcp_user_timeout() {
                socket.set_tcp_user_timeout(Some(*limit))?;
            }
            if config.get_keepalives() {
                let mut keepalive = TcpKeepalive::new().with_time(config.get_keepalives_idle());
                #[cfg(not(any(
                    target_os = "openbsd",
                    target_os = "redox",
                    target_os = "solaris"
                )))]
                if let Some(interval) = config.get_keepalives_interval() {
                    keepalive = keepalive.with_interval(interval);
                }
                #[cfg(not(any(
                    target_os = "openbsd",
                    target_os = "redox",
                    target_os = "solaris",
                    target_os = "windows"
                )))]
                if let Some(retries) = config.get_keepalives_retries() {
                    keepalive = keepalive.with_retries(retries);
                }
                socket.set_tcp_keepalive(&keepalive)?;
            }
            Ok(Plain::Tcp(stream))
        }
        #[cfg(unix)]
        Address::Unix(path) => Ok(Plain::Unix(
            within(timeout, UnixStream::connect(path)).await?,
        )),
    }
}

async fn within<T>(
    timeout: Option<Duration>,
    connect: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit, connect)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection timed out after {limit:?}"),
                ))
            }),
        None => connect.await,
    }
}

/// A dialled socket, TCP or Unix.
#[derive(Debug)]
pub(crate) enum Plain {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl AsyncRead for Plain {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Plain {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn hosts_pair_with_their_ports_and_hostaddrs() {
        let config = Config::from_str("host=localhost,127.0.0.1 port=5433,5434 user=x").unwrap();
        let found = targets(&config).await.unwrap();
        let ports: Vec<u16> = found
            .iter()
            .map(|t| match &t.address {
                Address::Tcp(a) => a.port(),
                #[cfg(unix)]
                Address::Unix(_) => 0,
            })
            .collect();
        assert!(
            ports.contains(&5433) && ports.last() == Some(&5434),
            "{ports:?}"
        );
        assert_eq!(found.last().unwrap().hostname.as_deref(), Some("127.0.0.1"));

        let config = Config::from_str("host=db.example hostaddr=127.0.0.1 user=x").unwrap();
        let found = targets(&config).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].hostname.as_deref(), Some("db.example"));
        assert_eq!(found[0].address.to_string(), "127.0.0.1:5432");
    }

    #[tokio::test]
    async fn mismatched_lists_are_refused_as_tokio_postgres_refuses_them() {
        let config = Config::from_str("host=a,b port=1,2,3 user=x").unwrap();
        let error = targets(&config).await.unwrap_err();
        assert_eq!(error.to_string(), "invalid number of ports");
    }
}
