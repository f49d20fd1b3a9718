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
    /// A tracker for a session just opened (its setup statements read to the end), whose
    /// last OK packet carried `status`.
    pub(crate) fn new(status: Option<StatusFlags>) -> Self {
        Self {
            dirty: false,
            unread: false,
            baseline: status.map(session_variable_flags),
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

    /// `COM_RESET_CONNECTION` succeeded, its OK packet carrying `status`: the session is as
    /// new.
    pub(crate) fn reset_done(&mut self, status: Option<StatusFlags>) {
        self.dirty = false;
        self.unread = false;
        self.baseline = status.map(session_variable_flags);
    }

    /// What a return must send under `policy`, the session's last OK packet having carried
    /// `status` (`None`: the driver kept none, as after an error).
    pub(crate) fn cleanup(&self, status: Option<StatusFlags>, policy: SessionReset) -> Cleanup {
        let session_changed = || {
            self.dirty
                || match (self.baseline, status.map(session_variable_flags)) {
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
                if self.transaction_may_be_open(status) {
                    Cleanup::Rollback
                } else {
                    Cleanup::Nothing
                }
            }
        }
    }

    /// Open, or not known to be closed.
    fn transaction_may_be_open(&self, status: Option<StatusFlags>) -> bool {
        self.unread
            || status.is_none_or(|flags| {
                flags.intersects(
                    StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_MORE_RESULTS_EXISTS,
                )
            })
    }
}

/// The status flags of the last OK packet `conn` read, if the driver kept one (it drops it at
/// an error).
pub(crate) fn last_status(conn: &Conn) -> Option<StatusFlags> {
    conn.last_ok_packet().map(|ok| ok.status_flags())
}

fn session_variable_flags(status: StatusFlags) -> StatusFlags {
    status & SESSION_VARIABLE_FLAGS
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: StatusFlags = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
    const IN_TRANS: StatusFlags =
        StatusFlags::SERVER_STATUS_AUTOCOMMIT.union(StatusFlags::SERVER_STATUS_IN_TRANS);

    fn clean() -> SessionTracker {
        SessionTracker::new(Some(IDLE))
    }

    #[test]
    fn an_idle_untouched_session_needs_nothing() {
        let tracker = clean();
        assert_eq!(
            tracker.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::Nothing
        );
        // Flags that say nothing about the session's state do not count.
        let slow =
            IDLE | StatusFlags::SERVER_QUERY_WAS_SLOW | StatusFlags::SERVER_STATUS_NO_INDEX_USED;
        assert_eq!(
            tracker.cleanup(Some(slow), SessionReset::Tracked),
            Cleanup::Nothing
        );
        assert_eq!(
            tracker.cleanup(Some(IDLE), SessionReset::RollbackOnly),
            Cleanup::Nothing
        );
        assert_eq!(
            tracker.cleanup(Some(IDLE), SessionReset::ResetConnection),
            Cleanup::ResetConnection
        );
    }

    #[test]
    fn an_open_or_unknown_transaction_is_rolled_back() {
        let tracker = clean();
        for policy in [SessionReset::Tracked, SessionReset::RollbackOnly] {
            assert_eq!(tracker.cleanup(Some(IN_TRANS), policy), Cleanup::Rollback);
            // After an error the driver keeps no OK packet.
            assert_eq!(tracker.cleanup(None, policy), Cleanup::Rollback);
            let more = IDLE | StatusFlags::SERVER_MORE_RESULTS_EXISTS;
            assert_eq!(tracker.cleanup(Some(more), policy), Cleanup::Rollback);
        }
        let mut unread = clean();
        unread.may_leave_results();
        assert_eq!(
            unread.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::Rollback
        );
        unread.caught_up();
        assert_eq!(
            unread.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::Nothing
        );
    }

    #[test]
    fn session_state_needs_the_full_reset_unless_only_rollback_is_asked_for() {
        let mut tracker = clean();
        tracker.will_send(b"SELECT 1");
        assert_eq!(
            tracker.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::Nothing
        );
        tracker.will_send(b"SET @x = 1");
        tracker.will_send(b"SELECT 1");
        assert_eq!(
            tracker.cleanup(Some(IN_TRANS), SessionReset::Tracked),
            Cleanup::ResetConnection
        );
        assert_eq!(
            tracker.cleanup(Some(IDLE), SessionReset::RollbackOnly),
            Cleanup::Nothing
        );
        tracker.reset_done(Some(IDLE));
        assert_eq!(
            tracker.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::Nothing
        );

        let mut raw = clean();
        raw.handed_out_the_driver();
        assert_eq!(
            raw.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::ResetConnection
        );
        assert_eq!(
            raw.cleanup(Some(IDLE), SessionReset::RollbackOnly),
            Cleanup::Rollback
        );

        let mut unseen = clean();
        unseen.will_send_unseen();
        assert_eq!(
            unseen.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::ResetConnection
        );
    }

    #[test]
    fn session_variables_the_status_flags_mirror_are_checked_too() {
        let tracker = clean();
        // `SET autocommit = 0` or an sql_mode change made where the scan could not see it.
        let no_autocommit = StatusFlags::empty();
        let ansi = IDLE | StatusFlags::SERVER_STATUS_ANSI_QUOTES;
        let no_backslash = IDLE | StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES;
        for status in [no_autocommit, ansi, no_backslash] {
            assert_eq!(
                tracker.cleanup(Some(status), SessionReset::Tracked),
                Cleanup::ResetConnection,
                "{status:?}"
            );
        }
        // A server whose global sql_mode has ANSI_QUOTES starts that way: not a change.
        let ansi_server = SessionTracker::new(Some(ansi));
        assert_eq!(
            ansi_server.cleanup(Some(ansi), SessionReset::Tracked),
            Cleanup::Nothing
        );
        // Unknown at connect: one reset establishes the baseline.
        let unknown = SessionTracker::new(None);
        assert_eq!(
            unknown.cleanup(Some(IDLE), SessionReset::Tracked),
            Cleanup::ResetConnection
        );
    }
}
