//! [`Marker`]: the unique tag of one case's sessions and tables.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers markers within this process.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A name unique to one case of one run: sessions carry it (PostgreSQL's `application_name`,
/// MySQL's `program_name`, SQLite's file name) and tables start with it, so runs, adapters and
/// tests running at the same time never see each other's sessions or tables.
///
/// It is a lowercase SQL identifier (`conf_<pid>_<run>_<n>_<purpose>`), at most 63 bytes so
/// PostgreSQL does not truncate it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Marker(String);

impl Marker {
    /// A marker no other case, test or concurrent run uses. `purpose` (letters, digits and `_`
    /// are kept, the rest dropped) makes it readable in the server's session list.
    pub fn unique(purpose: &str) -> Self {
        let purpose: String = purpose
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .map(|c| c.to_ascii_lowercase())
            .take(24)
            .collect();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(format!(
            "conf_{}_{}_{n}_{purpose}",
            std::process::id(),
            run_salt()
        ))
    }

    /// The marker as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A table name derived from the marker: `<marker>_<suffix>`, also a plain identifier.
    pub fn table(&self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.0);
        name.chars().take(63).collect()
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A few characters from the process's start time: tells apart runs that reuse a process id
/// after a crash left tables behind.
fn run_salt() -> &'static str {
    static SALT: OnceLock<String> = OnceLock::new();
    SALT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{:x}", nanos % 0x10000)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_unique_short_lowercase_identifiers() {
        let a = Marker::unique("Close-Leaves no SESSION, really: a very long purpose text");
        let b = Marker::unique("close");
        assert_ne!(a, b);
        for m in [&a, &b] {
            assert!(m.as_str().len() <= 63, "{m}");
            assert!(
                m.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{m}"
            );
        }
        assert!(a.table("values").starts_with(a.as_str()));
    }
}
