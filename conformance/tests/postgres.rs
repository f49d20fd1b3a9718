//! Every conformance case against adapter-postgres, one test each, on the server at
//! `CONFORMANCE_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! An unreachable server fails these tests unless `CONFORMANCE_ALLOW_SKIP=1`.

conformance::conformance_tests!(conformance::targets::PostgresTarget::from_env());
