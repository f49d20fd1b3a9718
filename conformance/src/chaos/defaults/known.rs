//! The targets the default-configuration scenarios are known to miss today, each with its
//! cause. A listed miss prints its figure instead of failing; an unlisted miss fails; a listed
//! miss that no longer happens fails too, so this list only ever shrinks, and only when the
//! code gets better.
//!
//! One exception, marked [`Miss::always`] `false`: a miss that depends on the breaker's random
//! jitter (each open interval is drawn between half and all of its nominal length) shows in
//! some runs and not in others; such a run where the target held prints so and passes, since
//! failing it would make the test flaky. The entry still goes once the cause is fixed.

use super::targets::NO_BREAKER_AFTER_UP;

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

/// The breaker opening while a restarted server is down.
const RESTART_OPENS: &str = "while the server is down (0.6-0.75 s), refused connects open the \
    breaker, and its trial (0.5-1 s after opening, jittered) usually comes after the server \
    is up: callers get CircuitOpen (with the refused connect as the cause) until it closes, \
    measured up to 0.47 s after up; the dead idle sessions do not count towards it (it opened \
    once or twice, all while down). Holds only when the trial happens to land at the moment \
    the server is up";

/// Every known miss.
pub const MISSES: &[Miss] = &[
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
        target: NO_BREAKER_AFTER_UP,
        cause: RESTART_OPENS,
        always: false,
    },
];

/// The listed miss of `target` in `scenario` on `db`, if any.
pub fn listed(db: &str, scenario: &str, target: &str) -> Option<&'static Miss> {
    MISSES
        .iter()
        .find(|m| m.db == db && m.scenario == scenario && m.target == target)
}
