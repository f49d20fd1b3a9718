//! What a return must do about the session, from what the holder was seen to do.
//!
//! Two sources, neither costing a round trip:
//!
//! * **The transaction**: every OK packet (the end of a statement, of a result set, of a ping)
//!   carries the server status flags, and `mysql_async` keeps the last one whichever way the
//!   statement was sent, the driver's own API included. `SERVER_STATUS_IN_TRANS` says whether
//!   a transaction is open. It is trusted only when it is the session's latest word: after an
//!   error the driver keeps no OK packet, and after a result handed out as an iterator or a
//!   stream the holder may have left rows (and further statements' results) unread, so the
//!   last packet may predate a `BEGIN`. Then the transaction counts as possibly open, and a
//!   return sends `ROLLBACK`, which on MySQL and MariaDB is harmless in an idle session
//!   (`tests/session_tracking.rs` checks these readings against the server).
//! * **Session state**: the SQL the holder sent through the adapter, scanned before it is sent
//!   (see the `session_sql` module); the driver handed out raw counts as anything. As a cheap
//!   second line, the status flags that mirror session variables (`autocommit`, and the
//!   `sql_mode` bits `NO_BACKSLASH_ESCAPES` and `ANSI_QUOTES`) must still read as they did after
//!   connect or the last `COM_RESET_CONNECTION`: a change from inside a procedure shows there.

use mysql_async::Conn;
use mysql_async::consts::StatusFlags;

use crate::options::SessionReset;
use crate::session_sql::changes_session;

/// The status flags that mirror session variables.
const SESSION_VARIABLE_FLAGS: StatusFlags = StatusFlags::SERVER_STATUS_AUTOCOMMIT
    .union(StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES)
    .union(StatusFlags::SERVER_STATUS_ANSI_QUOTES);

/// The least a return must send so the next holder gets a clean session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// The session is known clean.
    Nothing,
    /// A transaction is (or may be) open; nothing else changed.
    Rollback,
    /// Session state may have changed: `COM_RESET_CONNECTION`.
    ResetConnection,
}

/// What the adapter saw a holder do to its session since it was last clean.
#[derive(Debug)]
pub(crate) struct SessionTracker {
    /// The holder sent SQL that can keep state in the session, or took the driver itself.
    dirty: bool,
    /// A result may be unread (an iterator or stream was handed out, or the driver itself):
    /// the last OK packet may not be the session's latest.
    unread: bool,
    /// The session-variable flags when the session was last known clean; `None` until the
    /// server has said.
    baseline: Option<StatusFlags>,
}

impl SessionTracker {
    /// A tracker for a session just opened (its setup statements read to the end).
    pub(crate) fn new(conn: &Conn) -> Self {
        Self {
            dirty: false,
            unread: false,
            baseline: session_flags(conn),
        }
    }

    /// `sql` is about to be sent.
    pub(crate) fn will_send(&mut self, sql: &[u8]) {
        if !self.dirty && changes_session(sql) {
            self.dirty = true;
        }
    }

    /// Something the adapter cannot read is about to run (a statement whose SQL the driver
    /// hides): it may change anything.
    pub(crate) fn will_send_unseen(&mut self) {
        self.dirty = true;
    }

    /// The driver itself was handed out: anything may be sent and left unread.
    pub(crate) fn handed_out_the_driver(&mut self) {
        self.dirty = true;
        self.unread = true;
    }

    /// A result was handed out that its holder may not read to the end.
    pub(crate) fn may_leave_results(&mut self) {
        self.unread = true;
    }

    /// A command completed after everything sent before it was read (the driver reads any
    /// pending result before it sends a command): the last OK packet is current.
    pub(crate) fn caught_up(&mut self) {
        self.unread = false;
    }

    /// `COM_RESET_CONNECTION` succeeded: the session is as new.
    pub(crate) fn reset_done(&mut self, conn: &Conn) {
        self.dirty = false;
        self.unread = false;
        self.baseline = session_flags(conn);
    }

    /// What a return must send under `policy`.
    pub(crate) fn cleanup(&self, conn: &Conn, policy: SessionReset) -> Cleanup {
        let session_changed = || {
            self.dirty
                || match (self.baseline, session_flags(conn)) {
                    (Some(baseline), Some(now)) => baseline != now,
                    // Not known at connect: one reset establishes it.
                    (None, _) => true,
                    // After an error: read again once the rollback's OK packet is in.
                    (Some(_), None) => false,
                }
        };
        match policy {
            SessionReset::ResetConnection => Cleanup::ResetConnection,
            SessionReset::Tracked if session_changed() => Cleanup::ResetConnection,
            SessionReset::Tracked | SessionReset::RollbackOnly => {
                if self.transaction_may_be_open(conn) {
                    Cleanup::Rollback
                } else {
                    Cleanup::Nothing
                }
            }
        }
    }

    /// Open, or not known to be closed.
    fn transaction_may_be_open(&self, conn: &Conn) -> bool {
        if self.unread {
            return true;
        }
        conn.last_ok_packet().is_none_or(|ok| {
            ok.status_flags().intersects(
                StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_MORE_RESULTS_EXISTS,
            )
        })
    }
}

/// The session-variable flags of the last OK packet, if the driver kept one.
fn session_flags(conn: &Conn) -> Option<StatusFlags> {
    conn.last_ok_packet()
        .map(|ok| ok.status_flags() & SESSION_VARIABLE_FLAGS)
}
