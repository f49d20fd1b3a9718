//! Opening a database the file system cannot give us fails at connect with a typed,
//! connection-class `Error::Connect` whose message names the path and the cause.

use adapter_sqlite::SqliteConnector;
use pool_core::{Connector, Error};

async fn connect_error(url: &str) -> Error {
    let connector = SqliteConnector::from_url(url).unwrap();
    match connector.connect().await {
        Ok(_) => panic!("{url}: connect unexpectedly succeeded"),
        Err(e) => e,
    }
}

fn assert_connect_error(err: &Error, must_mention: &[&str]) {
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert!(err.is_connection_broken(), "{err:?}");
    let message = err.to_string();
    for part in must_mention {
        assert!(
            message.contains(part),
            "`{message}` should mention `{part}`"
        );
    }
}

#[tokio::test]
async fn missing_directory_is_a_connect_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/app.db");
    let err = connect_error(&format!("sqlite://{}", path.display())).await;
    assert_connect_error(&err, &[&path.display().to_string(), "does not exist"]);
    assert_eq!(
        err.backend().and_then(|b| b.code()),
        Some("14"),
        "SQLITE_CANTOPEN"
    );
}

#[tokio::test]
async fn a_file_in_place_of_a_directory_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("app.db");
    let err = connect_error(&format!("sqlite://{}", path.display())).await;
    assert_connect_error(&err, &[&path.display().to_string(), "not a directory"]);
}

#[tokio::test]
async fn read_only_mode_on_a_missing_file_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let err = connect_error(&format!("sqlite://{}?mode=ro", path.display())).await;
    assert_connect_error(&err, &[&path.display().to_string(), "does not create it"]);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = connect_error(&format!("sqlite://{}", path.display())).await;
    assert_connect_error(
        &err,
        &[&path.display().to_string(), "not an SQLite database"],
    );
    assert_eq!(
        err.backend().and_then(|b| b.code()),
        Some("26"),
        "SQLITE_NOTADB"
    );
}

#[tokio::test]
async fn an_unwritable_location_is_a_connect_error() {
    // /proc refuses new files even to root, unlike a directory without write permission.
    let err = connect_error("sqlite:///proc/adapter-sqlite-test.db").await;
    assert_connect_error(&err, &["/proc/adapter-sqlite-test.db"]);
}
