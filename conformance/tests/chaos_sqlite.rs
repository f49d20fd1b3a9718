//! The chaos scenarios that apply to SQLite (no server, so no proxy, kills or restarts): load
//! without errors, close under load, leak reports. The pool's own accounting is checked after
//! each.

use conformance::chaos::{self, SqliteChaos, run_serial};

#[test]
fn control_load_has_no_errors() {
    run_serial(
        SqliteChaos::new(),
        "control",
        chaos::control_load_through_the_proxy_has_no_errors,
    );
}

#[test]
fn close_under_load_fails_waiters_and_leaves_no_connection() {
    run_serial(
        SqliteChaos::new(),
        "shutdown",
        chaos::close_under_load_fails_waiters_and_leaves_no_session,
    );
}

#[test]
fn leaked_connections_are_reported_with_their_checkout_trace_and_reclaimed() {
    run_serial(
        SqliteChaos::new(),
        "leak",
        chaos::leaked_connections_are_reported_with_their_checkout_trace_and_reclaimed,
    );
}
