//! Finding this pool's sessions on the server.
//!
//! MariaDB's `information_schema.PROCESSLIST` shows no connection attributes, and an idle
//! session shows no query text, so a marker inside the session cannot be seen from outside.
//! What is reliable on MySQL and MariaDB alike is the session id (`CONNECTION_ID()`, the
//! `ID` column of the process list), so every connector records the id of each session it
//! opens — pool connections and cancel side connections — and can ask the server which of them
//! are still there ([`MysqlConnector::live_session_ids`](crate::MysqlConnector::live_session_ids)).
//!
//! Each session also carries the connection attribute `program_name` (default `pool-core`),
//! visible in `performance_schema.session_connect_attrs` where the performance schema is on
//! (it is off by default on MariaDB).

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Session ids this connector opened that the server has not yet been seen to drop.
///
/// Grows by one `u32` per connection opened; [`retain_live`](Self::retain_live) prunes it.
#[derive(Debug, Default)]
pub(crate) struct SessionRegistry {
    ids: Mutex<BTreeSet<u32>>,
}

impl SessionRegistry {
    pub(crate) fn opened(&self, id: u32) {
        self.lock().insert(id);
    }

    pub(crate) fn snapshot(&self) -> Vec<u32> {
        self.lock().iter().copied().collect()
    }

    /// Forgets the ids of `checked` that the server no longer has.
    pub(crate) fn retain_live(&self, checked: &[u32], live: &[u32]) {
        let mut ids = self.lock();
        for id in checked {
            if !live.contains(id) {
                ids.remove(id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        // A panic while holding this lock cannot leave the set inconsistent.
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_forgets_only_checked_ids_the_server_dropped() {
        let registry = SessionRegistry::default();
        for id in [1, 2, 3] {
            registry.opened(id);
        }
        let checked = registry.snapshot();
        registry.opened(4); // opened while the server was being asked
        registry.retain_live(&checked, &[2]);
        assert_eq!(registry.snapshot(), vec![2, 4]);
    }
}
