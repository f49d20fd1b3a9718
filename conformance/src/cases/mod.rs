//! The cases, grouped by concern, and the one list of them.
//!
//! [`every_case!`](crate::__every_case) names each case once; from that list come
//! [`cases`] (what the runner runs), [`case_names`] and the per-case tests that
//! [`conformance_tests!`](crate::conformance_tests) generates, so a new case can never be run by
//! one and forgotten by the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::context::CaseContext;
use crate::outcome::CaseResult;
use crate::target::ConformanceTarget;

mod broken;
mod close;
mod concurrency;
mod connect;
mod errors;
mod session;
mod statements;
mod support;
mod timeout;
mod transaction;
mod values;

/// Every case, as `concern::name`, in the order the runner runs them. Hidden: use
/// [`cases`], [`case_names`] or [`conformance_tests!`](crate::conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __every_case {
    ($($mode:tt)*) => {
        $crate::__expand_cases! { [$($mode)*]
            connect::pool_warms_up_to_min_size_and_pings,
            values::null_round_trips_in_every_column_type,
            values::booleans_round_trip,
            values::i64_extremes_round_trip,
            values::floats_round_trip_exactly,
            values::text_round_trips_empty_unicode_and_1_mib,
            values::bytes_with_nul_round_trip,
            values::parameters_bind_in_the_adapters_placeholder_style,
            statements::execute_returns_affected_rows,
            statements::committed_transaction_is_visible_to_other_connections,
            statements::rolled_back_transaction_leaves_no_rows,
            statements::open_transaction_is_rolled_back_when_the_connection_returns,
            statements::transaction_left_open_through_the_native_client_is_rolled_back,
            transaction::transaction_guard_commit_persists,
            transaction::transaction_guard_dropped_without_commit_is_rolled_back,
            errors::syntax_error_is_a_query_error_and_the_connection_stays_usable,
            errors::killed_session_fails_as_broken_and_is_replaced,
            errors::killed_session_is_replaced_before_the_next_caller_sees_it,
            broken::marked_broken_connection_is_closed_and_replaced,
            timeout::long_query_is_cancelled_at_the_query_timeout,
            timeout::timeout_inside_a_transaction_leaves_nothing_for_the_next_holder,
            session::temporary_table_does_not_survive_reset,
            session::session_variable_does_not_survive_reset,
            session::temporary_table_made_through_the_native_client_does_not_survive_reset,
            session::session_variable_set_through_the_native_client_does_not_survive_reset,
            concurrency::fifty_tasks_share_five_connections_for_5000_queries_without_leaks,
            close::close_leaves_no_session_on_the_server,
            close::dropping_the_pool_without_close_ends_its_sessions,
            close::connection_held_during_close_is_closed_when_returned,
            close::abandoned_statement_leaves_no_session_running_after_close,
        }
    };
}

/// Expands the case list for one use. Hidden: see [`__every_case!`](crate::__every_case).
#[doc(hidden)]
#[macro_export]
macro_rules! __expand_cases {
    ([cases] $($concern:ident :: $case:ident),* $(,)?) => {
        vec![$(
            $crate::Case::new(stringify!($case), stringify!($concern), |cx| {
                Box::pin($crate::cases::$concern::$case(cx))
            })
        ),*]
    };
    ([names] $($concern:ident :: $case:ident),* $(,)?) => {
        &[$(stringify!($case)),*]
    };
    ([tests $target:expr] $($concern:ident :: $case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case_as_test(|| $target, stringify!($case));
            }
        )*
    };
}

/// A case's body: given its context, a future that checks one guarantee.
pub(crate) type CaseFn<T> =
    fn(Arc<CaseContext<T>>) -> Pin<Box<dyn Future<Output = CaseResult> + Send + 'static>>;

/// One named case of the suite, ready to run against a target of type `T`.
pub struct Case<T: ConformanceTarget> {
    name: &'static str,
    concern: &'static str,
    run: CaseFn<T>,
}

impl<T: ConformanceTarget> Case<T> {
    pub(crate) fn new(name: &'static str, concern: &'static str, run: CaseFn<T>) -> Self {
        Self { name, concern, run }
    }

    /// The case's name: a sentence stating the guarantee, also its test function's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The concern it belongs to (`connect`, `values`, `statements`, `errors`, `transaction`, `broken`, `timeout`,
    /// `session`, `concurrency`, `close`).
    pub fn concern(&self) -> &'static str {
        self.concern
    }

    pub(crate) fn body(&self) -> CaseFn<T> {
        self.run
    }
}

impl<T: ConformanceTarget> std::fmt::Debug for Case<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("concern", &self.concern)
            .finish_non_exhaustive()
    }
}

/// Every case of the suite for targets of type `T`, in running order.
pub fn cases<T: ConformanceTarget>() -> Vec<Case<T>> {
    crate::__every_case!(cases)
}

/// The names of every case, in running order.
pub fn case_names() -> &'static [&'static str] {
    crate::__every_case!(names)
}
