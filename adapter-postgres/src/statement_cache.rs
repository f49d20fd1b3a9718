//! A bounded, least-recently-used cache of prepared statements keyed by SQL text, one per
//! connection. Dropping a tokio-postgres `Statement` closes it on the server, so eviction also
//! frees the server's memory.

use std::collections::HashMap;

/// Statements by SQL text; at most `capacity` of them (0: the cache is off).
///
/// Generic over the statement so the bookkeeping is unit-tested without a server.
#[derive(Debug)]
pub(crate) struct StatementCache<S> {
    capacity: usize,
    clock: u64,
    entries: HashMap<String, (S, u64)>,
}

impl<S: Clone> StatementCache<S> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The statement for `sql`, marking it recently used.
    pub(crate) fn get(&mut self, sql: &str) -> Option<S> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(sql).map(|(statement, used)| {
            *used = clock;
            statement.clone()
        })
    }

    /// Caches `statement` for `sql`, evicting the least recently used entry when full.
    /// Eviction scans the entries: only on a miss, and the cache is small.
    pub(crate) fn insert(&mut self, sql: &str, statement: S) {
        if !self.is_enabled() {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(sql) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.clock += 1;
        self.entries.insert(sql.to_owned(), (statement, self.clock));
    }

    pub(crate) fn remove(&mut self, sql: &str) {
        self.entries.remove(sql);
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_statement_is_evicted_at_capacity() {
        let mut cache = StatementCache::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get("a"), Some(1)); // "b" is now the oldest
        cache.insert("c", 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("c"), Some(3));
    }

    #[test]
    fn replacing_an_entry_does_not_evict_another() {
        let mut cache = StatementCache::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("a", 10);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a"), Some(10));
        assert_eq!(cache.get("b"), Some(2));
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let mut cache = StatementCache::new(0);
        assert!(!cache.is_enabled());
        cache.insert("a", 1);
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn remove_and_clear_forget_statements() {
        let mut cache = StatementCache::new(3);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.remove("a");
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b"), Some(2));
        cache.clear();
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.len(), 0);
    }
}
