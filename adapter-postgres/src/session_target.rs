//! [`TargetSession`]: which of several hosts a session may be opened on, with libpq's six
//! `target_session_attrs` values (tokio-postgres knows three: `any`, `read-write`,
//! `read-only`).
//!
//! How each value is checked is on [`TargetSession`].

use std::fmt;
use std::str::FromStr;

use pool_core::{Error, Result};
use tokio_postgres::config::TargetSessionAttrs;

/// The property a session's server must have (libpq's `target_session_attrs`).
///
/// With `host=a,b,c`, hosts are tried in order (shuffled with `load_balance_hosts=random`) and
/// the first whose session has the wanted property is kept; the others' sessions are closed.
/// Each check is one round trip on the new session, made only when the value is not `any`:
///
/// | value | the session is kept when | checked with |
/// |---|---|---|
/// | `any` | always | nothing |
/// | `read-write` | it accepts writes | `SHOW transaction_read_only` is `off` |
/// | `read-only` | it refuses writes | `SHOW transaction_read_only` is `on` |
/// | `primary` | the server is not in recovery | `SELECT pg_is_in_recovery()` is false |
/// | `standby` | the server is a standby in recovery | `SELECT pg_is_in_recovery()` is true |
/// | `prefer-standby` | a standby if any host has one, else any | as `standby`, then a second pass as `any` |
///
/// After a failover the old primary, if it comes back as a standby, refuses writes; a pool
/// opened with `read-write` (or `primary`) over both hosts reaches the new primary on its next
/// connect, and a write that still lands on a read-only session fails with PostgreSQL's own
/// "cannot execute … in a read-only transaction" (SQLSTATE 25006), never silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TargetSession {
    /// Any server.
    #[default]
    Any,
    /// A session that accepts writes.
    ReadWrite,
    /// A session that refuses writes.
    ReadOnly,
    /// A server not in recovery.
    Primary,
    /// A standby in recovery.
    Standby,
    /// A standby if one of the hosts is, any server otherwise.
    PreferStandby,
}

/// What one connect attempt requires of a session: a pass over the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requirement {
    Nothing,
    Writable,
    ReadOnly,
    NotInRecovery,
    InRecovery,
}

impl TargetSession {
    /// The libpq spelling (`prefer-standby`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSession::Any => "any",
            TargetSession::ReadWrite => "read-write",
            TargetSession::ReadOnly => "read-only",
            TargetSession::Primary => "primary",
            TargetSession::Standby => "standby",
            TargetSession::PreferStandby => "prefer-standby",
        }
    }

    /// The passes over the hosts, in order: `prefer-standby` makes two.
    pub(crate) fn passes(self) -> &'static [Requirement] {
        match self {
            TargetSession::Any => &[Requirement::Nothing],
            TargetSession::ReadWrite => &[Requirement::Writable],
            TargetSession::ReadOnly => &[Requirement::ReadOnly],
            TargetSession::Primary => &[Requirement::NotInRecovery],
            TargetSession::Standby => &[Requirement::InRecovery],
            TargetSession::PreferStandby => &[Requirement::InRecovery, Requirement::Nothing],
        }
    }

    /// The same requirement, for a value set on the driver's own configuration.
    pub(crate) fn from_driver(attrs: TargetSessionAttrs) -> Self {
        match attrs {
            TargetSessionAttrs::ReadWrite => TargetSession::ReadWrite,
            TargetSessionAttrs::ReadOnly => TargetSession::ReadOnly,
            _ => TargetSession::Any,
        }
    }
}

impl Requirement {
    /// The query whose single boolean-like value answers the requirement, and the value that
    /// satisfies it (`on`/`off` for `SHOW`, `t`/`f` for a boolean in the simple protocol).
    pub(crate) fn check(self) -> Option<(&'static str, &'static str)> {
        match self {
            Requirement::Nothing => None,
            Requirement::Writable => Some(("SHOW transaction_read_only", "off")),
            Requirement::ReadOnly => Some(("SHOW transaction_read_only", "on")),
            Requirement::NotInRecovery => Some(("SELECT pg_is_in_recovery()", "f")),
            Requirement::InRecovery => Some(("SELECT pg_is_in_recovery()", "t")),
        }
    }

    /// Why a session that fails the check is refused, in libpq's words.
    pub(crate) fn refusal(self) -> &'static str {
        match self {
            Requirement::Nothing => "",
            Requirement::Writable => "session is read-only",
            Requirement::ReadOnly => "session is not read-only",
            Requirement::NotInRecovery => "server is in hot standby mode",
            Requirement::InRecovery => "server is not in hot standby mode",
        }
    }
}

impl fmt::Display for TargetSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetSession {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        Ok(match value {
            "any" => TargetSession::Any,
            "read-write" => TargetSession::ReadWrite,
            "read-only" => TargetSession::ReadOnly,
            "primary" => TargetSession::Primary,
            "standby" => TargetSession::Standby,
            "prefer-standby" => TargetSession::PreferStandby,
            other => {
                return Err(Error::config(
                    "target_session_attrs",
                    format!(
                        "is `{other}`; use any, read-write, read-only, primary, standby or \
                         prefer-standby"
                    ),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libpq_value_round_trips_and_a_typo_is_named() {
        for value in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            assert_eq!(value.parse::<TargetSession>().unwrap().as_str(), value);
        }
        let error = "prefer-replica".parse::<TargetSession>().unwrap_err();
        let text = error.to_string();
        assert!(text.contains("target_session_attrs"), "{text}");
        assert!(text.contains("prefer-replica"), "{text}");
    }

    #[test]
    fn prefer_standby_falls_back_to_any_in_a_second_pass() {
        assert_eq!(
            TargetSession::PreferStandby.passes(),
            &[Requirement::InRecovery, Requirement::Nothing]
        );
        assert_eq!(TargetSession::Any.passes(), &[Requirement::Nothing]);
    }
}
