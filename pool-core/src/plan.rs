//! What a checkout and a return must read, check and time, decided once when the pool is built.
//!
//! The hot path asks the plan instead of re-deriving the same answers from the configuration and
//! the hooks on every call: which features need the clock, whether a connection must be
//! validated, whether leak tracking records anything.

use std::time::Duration;

use crate::config::PoolConfig;
use crate::hooks::Hooks;

/// The checkout and return paths' decisions, fixed at build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckoutPlan {
    /// Validate a connection at checkout once it has been idle this long (`test_on_checkout`).
    pub(crate) validate_after: Option<Duration>,
    /// `validate_after` in nanoseconds, for the comparison on coarse-clock ticks.
    pub(crate) validate_after_nanos: Option<u64>,
    /// A before-checkout hook runs at every checkout.
    pub(crate) before_checkout_hook: bool,
    /// Every checkout reads the clock: the hook's deadline needs the time. Otherwise only
    /// sampled checkouts (for the use-time histogram) do; validation's bypass is judged on the
    /// coarse clock (`clock.rs`).
    pub(crate) clock_at_checkout: bool,
    /// Leak detection records the checkout's caller (and the whole stack when asked).
    pub(crate) leak_tracking: Option<LeakPlan>,
    /// The leak detector may take a connection from its holder, so returns race it.
    pub(crate) reclaim_possible: bool,
    /// Something may run on a return (the session reset, if the adapter needs it, or an
    /// after-checkin hook).
    pub(crate) work_on_return: bool,
}

/// What leak detection records at a checkout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeakPlan {
    pub(crate) capture_backtrace: bool,
}

impl CheckoutPlan {
    pub(crate) fn new<C>(config: &PoolConfig, hooks: &Hooks<C>) -> Self {
        let validate_after = config.test_on_checkout.then_some(config.validation_bypass);
        let before_checkout_hook = hooks.before_checkout.is_some();
        Self {
            validate_after,
            validate_after_nanos: validate_after
                .map(|bypass| u64::try_from(bypass.as_nanos()).unwrap_or(u64::MAX)),
            before_checkout_hook,
            clock_at_checkout: before_checkout_hook,
            leak_tracking: config.leak_detection_threshold.map(|_| LeakPlan {
                capture_backtrace: config.leak_capture_backtrace,
            }),
            reclaim_possible: config.leak_detection_threshold.is_some()
                && config.leak_reclaim_after.is_some(),
            work_on_return: config.reset_on_return || hooks.after_checkin.is_some(),
        }
    }
}
