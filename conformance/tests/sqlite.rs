//! Every conformance case against adapter-sqlite, one test each, on database files in a fresh
//! directory under `CONFORMANCE_SQLITE_DIR` (default: the system's temporary directory).

conformance::conformance_tests!(conformance::targets::SqliteTarget::from_env());
