//! Every conformance case against adapter-mysql, one test each, on the server at
//! `CONFORMANCE_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`).
//!
//! An unreachable server fails these tests unless `CONFORMANCE_ALLOW_SKIP=1`.

conformance::conformance_tests!(conformance::targets::MysqlTarget::from_env());
