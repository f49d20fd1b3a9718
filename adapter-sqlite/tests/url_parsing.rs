//! `SqliteConnector::from_url` accepts every documented form and rejects anything else with a
//! configuration error that names the offending option.

use std::path::PathBuf;
use std::time::Duration;

use adapter_sqlite::{Database, JournalMode, OpenMode, SqliteConnector, Synchronous};
use pool_core::Error;

#[test]
fn documented_url_forms_parse_to_the_expected_database() {
    let cases = [
        ("sqlite::memory:", Database::Memory(None)),
        ("sqlite://:memory:", Database::Memory(None)),
        (
            "sqlite://data.db?mode=rwc",
            Database::File(PathBuf::from("data.db")),
        ),
        ("sqlite:data.db", Database::File(PathBuf::from("data.db"))),
        (
            "sqlite:///tmp/x.db",
            Database::File(PathBuf::from("/tmp/x.db")),
        ),
        (
            "sqlite://cache?mode=memory",
            Database::Memory(Some("cache".into())),
        ),
    ];
    for (url, database) in cases {
        let connector = SqliteConnector::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(connector.options().database, database, "{url}");
    }
}

#[test]
fn options_are_applied() {
    let connector = SqliteConnector::from_url(
        "sqlite:///tmp/x.db?mode=rw&cache=shared&busy_timeout=5s&journal_mode=wal\
         &synchronous=normal&foreign_keys=true",
    )
    .unwrap();
    let o = connector.options();
    assert_eq!(o.mode, OpenMode::ReadWrite);
    assert!(o.shared_cache);
    assert_eq!(o.busy_timeout, Duration::from_secs(5));
    assert_eq!(o.journal_mode, Some(JournalMode::Wal));
    assert_eq!(o.synchronous, Some(Synchronous::Normal));
    assert!(o.foreign_keys);
}

#[test]
fn bad_urls_are_config_errors_naming_the_problem() {
    let cases = [
        ("mysql://localhost/db", "url"),
        ("sqlite://", "url"),
        ("sqlite:///tmp/%g1.db", "url"),
        ("sqlite://data.db?mode=rwx", "mode"),
        ("sqlite://data.db?cache=sometimes", "cache"),
        ("sqlite://data.db?busy_timeout=forever", "busy_timeout"),
        ("sqlite://data.db?journal_mode=fast", "journal_mode"),
        ("sqlite://data.db?synchronous=sometimes", "synchronous"),
        ("sqlite://data.db?foreign_keys=perhaps", "foreign_keys"),
        ("sqlite://data.db?pool_size=3", "pool_size"),
        ("sqlite://data.db?mode", "mode"),
        ("sqlite://data.db?mode=ro&mode=rw", "mode"),
        ("sqlite::memory:?journal_mode=wal", "journal_mode"),
    ];
    for (url, expected_field) in cases {
        match SqliteConnector::from_url(url) {
            Err(Error::Config { field, reason }) => {
                assert_eq!(field, expected_field, "{url}: {reason}");
                assert!(!reason.is_empty(), "{url}");
            }
            other => panic!("{url}: expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn config_error_message_names_the_bad_value() {
    let err = SqliteConnector::from_url("sqlite://data.db?mode=rwx").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("mode") && message.contains("rwx"),
        "{message}"
    );
}
