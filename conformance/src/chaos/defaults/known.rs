//! The targets the default-configuration scenarios are known to miss today, each with its
//! cause. A listed miss prints its figure instead of failing; an unlisted miss fails; a listed
//! miss that no longer happens fails too, so this list only ever shrinks, and only when the
//! code gets better.
//!
//! One exception, marked [`Miss::always`] `false`: a miss that depends on the breaker's random
//! jitter (each open interval is drawn between half and all of its nominal length) shows in
//! some runs and not in others; such a run where the target held prints so and passes, since
//! failing it would make the test flaky. The entry still goes once the cause is fixed.

use super::targets::{
    ERRORS_ONLY_WHILE_DOWN, FIRST_SUCCESS, NATIVE_BOUNDED, NEUTRAL_BOUNDED, NINETY,
    NO_BREAKER_AFTER_UP,
};

/// One target one scenario misses on one database.
#[derive(Debug, Clone, Copy)]
pub struct Miss {
    /// `"postgres"` or `"mysql"` (a [`ChaosDb::name`](crate::chaos::ChaosDb::name)).
    pub db: &'static str,
    /// The scenario's name, as its function gives it to [`Verdicts`](super::Verdicts).
    pub scenario: &'static str,
    /// One of [`targets`](super::targets).
    pub target: &'static str,
    /// Why it misses, with the figure last measured.
    pub cause: &'static str,
    /// True when it misses in every run; false when it depends on the breaker's jitter.
    pub always: bool,
}

/// The breaker's doubling interval after a 5 s refusal.
const DOUBLING_AFTER_5S: &str = "the breaker's open interval doubles with each failed trial \
    (1 s, 2 s, 4 s, each drawn in [half, all]): after 5 s of refusals the next trial can be up \
    to 4 s after the database is back; measured 0.11-1.31 s to the first success";

/// The breaker opening while a restarted server is down.
const RESTART_OPENS: &str = "while the server is down, connects are refused and open the \
    breaker; a trial that fails before the server is up doubles the interval (1-2 s), so \
    callers get CircuitOpen for up to ~1.1 s after it is up (measured 0-1.14 s)";

/// adapter-mysql's default cancel budget.
const MYSQL_CANCEL_5S: &str = "adapter-mysql's default cancel_timeout is 5 s: a timed-out \
    call waits up to 5 s for its KILL QUERY side connection through the blackhole, so a call \
    lasts 2 s + 5 s = 7.0 s (PostgreSQL's default is 1.5 s: 3.5 s)";

/// Every known miss.
pub const MISSES: &[Miss] = &[
    Miss {
        db: "postgres",
        scenario: "refused 5s",
        target: FIRST_SUCCESS,
        cause: DOUBLING_AFTER_5S,
        always: false,
    },
    Miss {
        db: "postgres",
        scenario: "refused 5s",
        target: NINETY,
        cause: DOUBLING_AFTER_5S,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "refused 5s",
        target: FIRST_SUCCESS,
        cause: DOUBLING_AFTER_5S,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "refused 5s",
        target: NINETY,
        cause: DOUBLING_AFTER_5S,
        always: false,
    },
    Miss {
        db: "postgres",
        scenario: "restart",
        target: FIRST_SUCCESS,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "postgres",
        scenario: "restart",
        target: NINETY,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "postgres",
        scenario: "restart",
        target: ERRORS_ONLY_WHILE_DOWN,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "postgres",
        scenario: "restart",
        target: NO_BREAKER_AFTER_UP,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "restart",
        target: FIRST_SUCCESS,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "restart",
        target: NINETY,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "restart",
        target: ERRORS_ONLY_WHILE_DOWN,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "restart",
        target: NO_BREAKER_AFTER_UP,
        cause: RESTART_OPENS,
        always: false,
    },
    Miss {
        db: "mysql",
        scenario: "blackhole 10s",
        target: NEUTRAL_BOUNDED,
        cause: MYSQL_CANCEL_5S,
        always: true,
    },
    Miss {
        db: "mysql",
        scenario: "blackhole 10s",
        target: NATIVE_BOUNDED,
        cause: MYSQL_CANCEL_5S,
        always: true,
    },
];

/// The listed miss of `target` in `scenario` on `db`, if any.
pub fn listed(db: &str, scenario: &str, target: &str) -> Option<&'static Miss> {
    MISSES
        .iter()
        .find(|m| m.db == db && m.scenario == scenario && m.target == target)
}
