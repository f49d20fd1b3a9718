//! Splitting an `sqlite:` URL into a database and its options; each option goes through
//! [`SqliteOptions::param`], so validation lives there once.

use std::path::PathBuf;

use pool_core::{Error, Result};

use crate::options::SqliteOptions;

/// Parses `sqlite::memory:`, `sqlite://:memory:`, `sqlite://relative.db`,
/// `sqlite:///absolute.db`, `sqlite:relative.db`, each optionally followed by `?key=value&...`.
pub(crate) fn parse(url: &str) -> Result<SqliteOptions> {
    // Only the scheme is quoted: a URL meant for another database may hold a password.
    let rest = url.strip_prefix("sqlite:").ok_or_else(|| {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        let reason = match scheme {
            Some(scheme) => format!(
                "has the scheme `{scheme}:`; expected `sqlite:` (e.g. sqlite://data.db?mode=rwc)"
            ),
            None => "does not start with `sqlite:` (e.g. sqlite://data.db?mode=rwc)".to_owned(),
        };
        Error::config("url", reason)
    })?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.contains('#') {
        return Err(Error::config(
            "url",
            "must not contain a fragment (`#`); write it as `%23` in a file name",
        ));
    }
    let mut options = match path {
        ":memory:" => SqliteOptions::memory(),
        "" => {
            return Err(Error::config(
                "url",
                "names no database (e.g. sqlite://data.db or sqlite::memory:)",
            ));
        }
        path => SqliteOptions::file(PathBuf::from(percent_decode("url", path)?)),
    };
    let mut seen: Vec<String> = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            Error::config(
                pair,
                "has no value: options are written key=value (e.g. mode=rwc)",
            )
        })?;
        let key = percent_decode("url", key)?;
        if key.is_empty() {
            return Err(Error::config(
                "url",
                "has an option without a name (`=value`): options are written key=value",
            ));
        }
        let value = percent_decode(&key, value)?;
        if seen.contains(&key) {
            return Err(Error::config(key, "is given more than once"));
        }
        options.param(&key, &value)?;
        seen.push(key);
    }
    options.validate()?;
    Ok(options)
}

/// Decodes `%XX` escapes; a malformed escape or invalid UTF-8 is a configuration error.
fn percent_decode(field: &str, s: &str) -> Result<String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::config(field, format!("has a malformed percent escape in `{s}`"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::config(field, format!("`{s}` does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::options::{Database, JournalMode, OpenMode, Synchronous};

    /// Parses `url` and checks the result with `expect`, or checks the error's field.
    fn check(url: &str, expected: std::result::Result<SqliteOptions, &str>) {
        match (parse(url), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{url}"),
            (Err(Error::Config { field, reason }), Err(want_field)) => {
                assert_eq!(field, want_field, "{url}: {reason}");
                assert!(!reason.is_empty());
            }
            (got, want) => panic!("{url}: got {got:?}, expected {want:?}"),
        }
    }

    fn file(path: &str) -> SqliteOptions {
        SqliteOptions::file(path)
    }

    #[test]
    fn url_table() {
        let with = |mut o: SqliteOptions, f: &dyn Fn(&mut SqliteOptions)| {
            f(&mut o);
            o
        };
        let cases: Vec<(&str, std::result::Result<SqliteOptions, &str>)> = vec![
            ("sqlite::memory:", Ok(SqliteOptions::memory())),
            ("sqlite://:memory:", Ok(SqliteOptions::memory())),
            ("sqlite://data.db", Ok(file("data.db"))),
            ("sqlite:data.db", Ok(file("data.db"))),
            ("sqlite:///tmp/x.db", Ok(file("/tmp/x.db"))),
            ("sqlite:///tmp/a%20b.db", Ok(file("/tmp/a b.db"))),
            ("sqlite://data.db?mode=rwc", Ok(file("data.db"))),
            (
                "sqlite://data.db?mode=ro",
                Ok(with(file("data.db"), &|o| o.mode = OpenMode::ReadOnly)),
            ),
            (
                "sqlite://data.db?mode=rw&",
                Ok(with(file("data.db"), &|o| o.mode = OpenMode::ReadWrite)),
            ),
            (
                "sqlite://shared?mode=memory",
                Ok(with(SqliteOptions::memory(), &|o| {
                    o.database = Database::Memory(Some("shared".into()))
                })),
            ),
            (
                "sqlite://data.db?cache=shared",
                Ok(with(file("data.db"), &|o| o.shared_cache = true)),
            ),
            (
                "sqlite://data.db?busy_timeout=5s",
                Ok(with(file("data.db"), &|o| {
                    o.busy_timeout = Duration::from_secs(5)
                })),
            ),
            (
                "sqlite://data.db?busy_timeout=250ms",
                Ok(with(file("data.db"), &|o| {
                    o.busy_timeout = Duration::from_millis(250)
                })),
            ),
            (
                "sqlite://data.db?busy_timeout=100",
                Ok(with(file("data.db"), &|o| {
                    o.busy_timeout = Duration::from_millis(100)
                })),
            ),
            (
                "sqlite://data.db?journal_mode=WAL&synchronous=normal",
                Ok(with(file("data.db"), &|o| {
                    o.journal_mode = Some(JournalMode::Wal);
                    o.synchronous = Some(Synchronous::Normal);
                })),
            ),
            (
                "sqlite://data.db?journal_mode=delete&synchronous=2",
                Ok(with(file("data.db"), &|o| {
                    o.journal_mode = Some(JournalMode::Delete);
                    o.synchronous = Some(Synchronous::Full);
                })),
            ),
            (
                "sqlite://data.db?foreign_keys=false&statement_cache_capacity=8",
                Ok(with(file("data.db"), &|o| {
                    o.foreign_keys = false;
                    o.statement_cache_capacity = 8;
                })),
            ),
            (
                "sqlite::memory:?query_only=true&foreign_keys=on",
                Ok(with(SqliteOptions::memory(), &|o| o.query_only = true)),
            ),
            // Errors name the offending part.
            ("postgres://localhost/db", Err("url")),
            ("sqlite://", Err("url")),
            ("sqlite:", Err("url")),
            ("sqlite://data.db#frag", Err("url")),
            ("sqlite:///tmp/%zz.db", Err("url")),
            ("sqlite://data.db?mode=rwx", Err("mode")),
            ("sqlite://data.db?cache=huge", Err("cache")),
            ("sqlite://data.db?busy_timeout=soon", Err("busy_timeout")),
            ("sqlite://data.db?busy_timeout=5h", Err("busy_timeout")),
            ("sqlite://data.db?journal_mode=fast", Err("journal_mode")),
            ("sqlite://data.db?synchronous=7", Err("synchronous")),
            ("sqlite://data.db?foreign_keys=maybe", Err("foreign_keys")),
            (
                "sqlite://data.db?statement_cache_capacity=-1",
                Err("statement_cache_capacity"),
            ),
            ("sqlite://data.db?colour=blue", Err("colour")),
            ("sqlite://data.db?mode", Err("mode")),
            ("sqlite://data.db?=rwc", Err("url")),
            ("sqlite://data.db?mode=ro&mode=rw", Err("mode")),
            ("sqlite::memory:?journal_mode=wal", Err("journal_mode")),
            ("sqlite::memory:?mode=ro", Err("mode")),
            ("sqlite:///tmp/x.db?mode=memory", Err("mode")),
            (
                "sqlite://data.db?mode=ro&journal_mode=wal",
                Err("journal_mode"),
            ),
        ];
        for (url, expected) in cases {
            check(url, expected);
        }
    }

    #[test]
    fn a_url_meant_for_another_database_is_named_by_its_scheme_only() {
        let error = parse("postgres://app:hunter2-s3cret@db/shop").unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("`postgres:`"),
            "{error}"
        );
    }
}
