//! Cancelling a statement that is still running on the server: after a query timeout, and
//! before closing a connection whose call was abandoned.
//!
//! # Why not the protocol's cancel request after a query timeout
//!
//! tokio-postgres's [`CancelToken::cancel_query`](tokio_postgres::CancelToken::cancel_query)
//! sends the wire protocol's CancelRequest to the postmaster and returns once it is written: it
//! cannot tell when, or whether, the server acted on it. The postmaster then signals the backend
//! with `signal_child()`, which sends SIGINT **twice**: `kill(pid)` and then `kill(-pid)` (the
//! backend's process group). When the backend handles the first signal before the second one
//! is posted, the statement fails with `57014` and the backend goes on; the second signal then
//! lands on whatever the connection runs next, a probe, the next caller's statement or the
//! pool's reset, and cancels it too. Waiting does not help, because nothing tells the client
//! when the second signal has been sent.
//!
//! So after a query timeout the adapter cancels with `SELECT pg_cancel_backend(pid)` on a side
//! connection, opened on demand with the connector's own options (host, TLS, credentials,
//! password provider) and an `application_name` ending in ` (cancel)`. That function sends
//! **one** signal (`pg_signal_backend()`: a single `kill(-pid)`), and by the time its result
//! arrives, the signal has been posted. The connection then waits for the timed-out
//! statement's answer (a probe behind it on the same connection) before it runs anything else.
//! The signal either cancelled the statement, or it found the backend idle, reading the next
//! command, where PostgreSQL ignores it: `ProcessInterrupts()` drops a cancel while
//! `DoingCommandRead`, and `PostgresMain()` checks for interrupts once more before it stops
//! reading, precisely so that a cancel which arrived while idle is discarded. Either way
//! nothing is left pending that could hit a later statement.
//!
//! The side connection names its target by process id **and** backend start time (read once
//! at connect, from `pg_stat_activity`), so it cancels nothing if it reached a different server
//! (several hosts, `load_balance_hosts`) or the process id now belongs to another session.
//! It costs one connection setup per timeout, and one query per connection at connect; no idle
//! side session is kept open, none counts against `max_connections` between timeouts.
//!
//! When the side cancel cannot be done (no identity, the side connection fails, say at
//! `max_connections`, the role may not signal the backend, the backend is not found, or it all
//! takes longer than the grace period), the adapter falls back to the protocol cancel request
//! and marks the connection broken, so the pool discards it instead of risking the second
//! signal on a later statement.
//!
//! # Behind PgBouncer
//!
//! With the `pgbouncer` setting ([`PgbouncerMode`](crate::PgbouncerMode)) no identity is read
//! and no side connection is opened: behind PgBouncer in transaction mode the process id read
//! at connect belongs to whichever server connection answered, which may be running another
//! client's statement when our timeout fires. The protocol cancel request goes to PgBouncer
//! instead, which knows which server connection runs this client's statement (if any) and
//! forwards the request there. It does so only after connecting to the server, and drops the
//! request if the client has closed its side by then, so the request's socket is held open
//! until the other end closes it, as libpq does ([`UntilClosed`]).
//!
//! # Closing a connection whose call was abandoned
//!
//! A backend reads no further message, not even Terminate, until its statement has ended, and
//! tokio-postgres sends Terminate only once every answer it waits for has arrived. Closing a
//! connection whose statement may still be running therefore sends the protocol cancel request
//! first (the double signal is harmless when nothing follows), so the session ends with
//! `close()` instead of when the statement would have finished.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::connector::PostgresConnector;
use crate::dial::{Plain, Target};
use tokio_postgres::tls::MakeTlsConnect;

/// Which backend a connection talks to: process id and start time (microseconds since the
/// Unix epoch, as the server computes them), so a side connection never signals a stranger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendIdentity {
    pid: i32,
    started_us: i64,
}

/// The backend's start time as both sessions compute it, independent of `TimeZone` and
/// `DateStyle`.
const STARTED_US: &str = "(extract(epoch FROM backend_start) * 1000000)::bigint";

/// The suffix of the side connection's `application_name`.
const SIDE_SUFFIX: &str = " (cancel)";

/// The longest `application_name` the server keeps (`NAMEDATALEN - 1` bytes).
const APPLICATION_NAME_MAX: usize = 63;

/// Reads the identity of the backend `client` talks to; `None` if the server cannot say (then
/// every query timeout falls back to the protocol cancel and discards the connection).
pub(crate) async fn identify(client: &Client) -> Option<BackendIdentity> {
    let sql = format!(
        "SELECT pg_backend_pid(), {STARTED_US} FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    );
    let messages = match client.simple_query(&sql).await {
        Ok(messages) => messages,
        Err(e) => {
            tracing::debug!(error = %crate::error::render(&e), "reading the backend's identity failed; query timeouts will discard the connection");
            return None;
        }
    };
    let identity = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(BackendIdentity {
            pid: row.get(0)?.parse().ok()?,
            started_us: row.get(1)?.parse().ok()?,
        }),
        _ => None,
    });
    if identity.is_none() {
        tracing::debug!(
            "pg_stat_activity did not list this session; query timeouts will discard the connection"
        );
    }
    identity
}

/// What a cancel through a side connection did.
#[derive(Debug)]
pub(crate) enum SideCancel {
    /// `pg_cancel_backend` returned true: exactly one SIGINT has been posted to the backend.
    Signalled,
    /// Nothing was signalled; why, for the log.
    NotDone(String),
}

/// Cancels the statement `target` runs with `pg_cancel_backend` on a fresh side connection.
/// Unbounded in time: the caller bounds it.
pub(crate) async fn from_side_connection(
    connector: &PostgresConnector,
    target: BackendIdentity,
) -> SideCancel {
    let mut config = connector.options().pg.clone();
    let name = side_application_name(config.get_application_name());
    config.application_name(name);
    let crate::connector::Opened {
        client, io_task, ..
    } = match connector.open(config).await {
        Ok(opened) => opened,
        Err(e) => return SideCancel::NotDone(format!("the side connection failed: {e}")),
    };
    let BackendIdentity { pid, started_us } = target;
    let sql = format!(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = {pid} AND \
         {STARTED_US} = {started_us}"
    );
    let result = client.simple_query(&sql).await;
    // Dropping the client ends the side session: its I/O task sends Terminate and finishes.
    drop(client);
    drop(io_task);
    let messages = match result {
        Ok(messages) => messages,
        // Typically 42501: the side session's role may not signal the backend.
        Err(e) => {
            return SideCancel::NotDone(format!(
                "pg_cancel_backend failed: {}",
                crate::error::render(&e)
            ));
        }
    };
    let answer = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
        _ => None,
    });
    match answer {
        Some(Some(t)) if t == "t" => SideCancel::Signalled,
        Some(other) => SideCancel::NotDone(format!(
            "pg_cancel_backend({pid}) returned {}",
            other.as_deref().unwrap_or("NULL")
        )),
        None => SideCancel::NotDone(format!(
            "the side connection found no backend {pid} started at the same time (another \
             server, or the session is gone)"
        )),
    }
}

/// Sends the protocol's cancel request for the statement `client`'s backend runs. It returns
/// once the request is written and the server closed the connection, as libpq's `PQcancel`
/// waits: the postmaster then has read it (and signals the backend, twice), PgBouncer has
/// forwarded it.
pub(crate) async fn by_protocol(
    client: &Client,
    connector: &PostgresConnector,
    target: &Target,
) -> Result<(), String> {
    by_token(client.cancel_token(), connector, target).await
}

/// The protocol cancel request from a token, so it can run in a task of its own.
pub(crate) async fn by_token(
    token: tokio_postgres::CancelToken,
    connector: &PostgresConnector,
    target: &Target,
) -> Result<(), String> {
    // The request goes to the address the session was opened at (the adapter dials its own
    // sockets, so the token knows no address of its own).
    let config = &connector.options().pg;
    let socket = crate::dial::dial(&target.address, config)
        .await
        .map_err(|e| format!("could not connect to {} to cancel: {e}", target.address))?;
    let socket = UntilClosed(socket);
    let tls = MakeTlsConnect::<UntilClosed<Plain>>::make_tls_connect(
        &mut connector.tls(),
        target.hostname.as_deref().unwrap_or(""),
    )
    .map_err(|e| e.to_string())?;
    token
        .cancel_query_raw(socket, tls)
        .await
        .map_err(|e| crate::error::render(&e))
}

/// A cancel request's socket whose shutdown waits for the server to close the connection.
///
/// tokio-postgres writes the request and then shuts its side down at once. PgBouncer (1.18)
/// takes that end of file for a client gone away and drops a cancel request it has not
/// forwarded yet, which it forwards only once it has connected to the server; so the
/// shutdown here reads (and discards) until the server closes, as libpq does, and only then
/// closes this side.
struct UntilClosed<S>(S);

delegate_io!(read for UntilClosed);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for UntilClosed<S> {
    delegate_io!(write);

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0_u8; 64];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.0).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Ok(())) => {}
                // A reset is the server closing too.
                Poll::Ready(Err(_)) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `application_name` of the side connection: the connection's own, shortened if need be so
/// the server keeps the suffix.
fn side_application_name(own: Option<&str>) -> String {
    let own = own.unwrap_or_default();
    let mut end = own.len().min(APPLICATION_NAME_MAX - SIDE_SUFFIX.len());
    while !own.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{SIDE_SUFFIX}", &own[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_side_application_name_keeps_its_suffix_within_the_servers_limit() {
        fn check(own: Option<&str>, expected: &str) {
            let name = side_application_name(own);
            assert_eq!(name, expected, "for {own:?}");
            assert!(name.len() <= APPLICATION_NAME_MAX);
        }
        check(Some("pool"), "pool (cancel)");
        check(None, " (cancel)");
        let long = "x".repeat(80);
        check(Some(&long), &format!("{} (cancel)", "x".repeat(54)));
        // Shortened at a character boundary: 'é' is two bytes.
        let accented = "é".repeat(40);
        check(Some(&accented), &format!("{} (cancel)", "é".repeat(27)));
    }
}
