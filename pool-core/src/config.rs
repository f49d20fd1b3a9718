//! Pool configuration: plain data, every default next to the reason for it, validated once when
//! the pool is built.
//!
//! Deserializes from TOML/JSON with humane durations (`"30s"`, `"5m"`, `"500ms"`); unknown keys
//! are errors, so a typo never silently falls back to a default.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Everything that shapes a pool's behaviour. Start from [`PoolConfig::default`] and change what
/// you need, or let the [builder](crate::PoolBuilder) do it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolConfig {
    /// A name for logs and metrics (the manager sets it to the pool's registered name).
    pub name: String,
    /// Connections kept open even when idle, and opened by warm-up. Unset (`None`), it is 5,
    /// or `max_size` when that is smaller: `max_size = 1` alone is a valid pool.
    pub min_size: Option<usize>,
    /// The most connections the pool opens at once: a hard limit that protects the database.
    pub max_size: usize,
    /// At most this many connections are being opened at the same time, so a burst of waiters
    /// does not storm the database's authentication path.
    pub max_concurrent_creates: usize,
    /// What [`build`](crate::PoolBuilder::build) does when warm-up cannot open `min_size`
    /// connections.
    pub warmup: WarmupMode,
    /// How long `get()` waits for a connection before failing with [`Error::Timeout`].
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// How long one connection attempt may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// First delay between failed connection attempts; doubles up to `connect_backoff_max`,
    /// with jitter so many pools don't retry in lockstep.
    #[serde(with = "humantime_serde")]
    pub connect_backoff_initial: Duration,
    /// Longest delay between failed connection attempts.
    #[serde(with = "humantime_serde")]
    pub connect_backoff_max: Duration,
    /// Validate (ping) a connection before handing it out, unless it was used very recently.
    pub test_on_checkout: bool,
    /// A connection used within this window is handed out without validation. Judged on a
    /// clock the sampler moves every `autoscale.sample_interval` (no clock read per checkout
    /// or return): a connection idle longer than `validation_bypass + sample_interval` is
    /// always validated, one idle less than `validation_bypass - sample_interval` never is.
    #[serde(with = "humantime_serde")]
    pub validation_bypass: Duration,
    /// How often idle connections are pinged in the background; `None` turns it off.
    #[serde(deserialize_with = "optional_duration")]
    pub health_check_interval: Option<Duration>,
    /// How long a validation or background ping may take before the connection is discarded.
    #[serde(with = "humantime_serde")]
    pub health_check_timeout: Duration,
    /// A connection checked out longer than this is reported as a possible leak, with where it
    /// was checked out (the stack trace too with `leak_capture_backtrace`), at most a quarter of
    /// the threshold late; `None` turns leak detection off.
    #[serde(deserialize_with = "optional_duration")]
    pub leak_detection_threshold: Option<Duration>,
    /// Capture the whole stack at every checkout while leak detection is on, so a leak report
    /// shows the full path to where the connection was taken. The caller of `get()` (file and
    /// line) is always recorded for free; the full trace costs about 8 µs per checkout here,
    /// some forty times the pool's own overhead, so switch it on when hunting a leak.
    pub leak_capture_backtrace: bool,
    /// A connection checked out longer than this is reclaimed: its slot is freed and the
    /// connection is closed when its holder finally drops it. `None` only reports leaks.
    #[serde(deserialize_with = "optional_duration")]
    pub leak_reclaim_after: Option<Duration>,
    /// Idle connections above the pool's warm size are closed after this long unused: never
    /// early, and usually at most a quarter of it late (the reaper looks every quarter of the
    /// shorter of this and `max_lifetime`; a return on the fast path is stamped by its next look).
    #[serde(deserialize_with = "optional_duration")]
    pub idle_timeout: Option<Duration>,
    /// Connections are retired after this age (minus jitter), also when returned, so that a
    /// connection that is never idle still retires.
    #[serde(deserialize_with = "optional_duration")]
    pub max_lifetime: Option<Duration>,
    /// Up to this fraction of `max_lifetime` is subtracted at random per connection, so
    /// connections opened together do not all expire together.
    pub max_lifetime_jitter: f64,
    /// The longest a single query may run; enforced by the adapters with a server-side cancel.
    #[serde(deserialize_with = "optional_duration")]
    pub query_timeout: Option<Duration>,
    /// Run [`ConnectionProtocol::reset`](crate::ConnectionProtocol::reset) on every returned
    /// connection, so no session state leaks to the next holder.
    pub reset_on_return: bool,
    /// Bound on closing a connection and on the reset/after-checkin work of a return, so a dead
    /// socket can never hang the pool.
    #[serde(with = "humantime_serde")]
    pub close_timeout: Duration,
    /// The auto-scaler.
    pub autoscale: AutoscaleConfig,
    /// The circuit breaker.
    pub circuit_breaker: CircuitBreakerConfig,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            // Five warm connections cover a small service's steady state without a connect on
            // the first requests (the specification's default); fewer when max_size is smaller
            // (see `effective_min_size`).
            min_size: None,
            // The specification's default; most servers allow a few hundred sessions in all.
            max_size: 100,
            // Enough to ramp up quickly, few enough that a thundering herd does not become a
            // burst of TLS handshakes and authentications at the server.
            max_concurrent_creates: 4,
            // A pool that cannot reach its database at start-up is a deployment error: say so.
            warmup: WarmupMode::FailFast,
            // HikariCP's and sqlx's default: long enough to ride out a short spike.
            acquire_timeout: Duration::from_secs(30),
            // A healthy server accepts in milliseconds; ten seconds covers a slow TLS handshake.
            connect_timeout: Duration::from_secs(10),
            connect_backoff_initial: Duration::from_millis(100),
            connect_backoff_max: Duration::from_secs(10),
            // Checkout validation catches sessions killed while idle; the bypass keeps it off
            // the hot path (HikariCP's 500 ms aliveness bypass).
            test_on_checkout: true,
            validation_bypass: Duration::from_millis(500),
            health_check_interval: Some(Duration::from_secs(60)),
            health_check_timeout: Duration::from_secs(5),
            // Five minutes: no sane request holds a connection that long.
            leak_detection_threshold: Some(Duration::from_secs(300)),
            // Off: the report still names the file and line of the `get()` call; the full
            // stack costs ~8 µs per checkout, which no busy service should pay by default.
            leak_capture_backtrace: false,
            // Reclaiming takes a connection away from code that may still use it: opt in.
            leak_reclaim_after: None,
            idle_timeout: Some(Duration::from_secs(3600)),
            // Two hours: retires connections before typical server or firewall idle limits and
            // lets credential rotation and failovers take effect.
            max_lifetime: Some(Duration::from_secs(7200)),
            // HikariCP subtracts up to 2.5 % of the lifetime, which spreads expiries enough.
            max_lifetime_jitter: 0.025,
            query_timeout: Some(Duration::from_secs(60)),
            reset_on_return: true,
            close_timeout: Duration::from_secs(5),
            autoscale: AutoscaleConfig::default(),
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }
}

/// What warm-up does when it cannot open `min_size` connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarmupMode {
    /// `build()` fails with the connect error.
    FailFast,
    /// `build()` succeeds with the connections it could open; the pool keeps trying in the
    /// background and reports itself degraded meanwhile.
    StartDegraded,
}

/// The auto-scaler: moves the pool's warm size (connections kept open and ready) between
/// `min_size` and `max_size` with demand. Acquires may always open connections up to
/// `max_size`; the scaler decides how many stay warm, so bursts find connections ready and
/// quiet periods give them back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AutoscaleConfig {
    /// Off keeps the warm size at `min_size`.
    pub enabled: bool,
    /// How often utilization (active / open) is sampled; scaling reacts within two samples.
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
    /// The utilization the scaler steers towards: growing makes the warm size at least what
    /// puts the connections in use at this share of it (a burst is met in one step, not
    /// several), and shrinking never goes below that size. The thresholds below decide when.
    pub target_utilization: f64,
    /// Grow when utilization is above this, or whenever callers wait.
    pub scale_up_threshold: f64,
    /// Shrink when utilization stays below this for `scale_down_cooldown`.
    pub scale_down_threshold: f64,
    /// Fraction of the warm size added or removed per decision (at least one connection).
    pub step: f64,
    /// How long utilization must stay low before the pool shrinks.
    #[serde(with = "humantime_serde")]
    pub scale_down_cooldown: Duration,
}

impl Default for AutoscaleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Two samples a second reacts well within the 2 s the specification asks for.
            sample_interval: Duration::from_millis(500),
            target_utilization: 0.7,
            scale_up_threshold: 0.8,
            scale_down_threshold: 0.5,
            step: 0.2,
            // A minute of low use before giving connections back avoids flapping.
            scale_down_cooldown: Duration::from_secs(60),
        }
    }
}

/// The circuit breaker: after repeated connection failures, acquires that would need a new
/// connection fail at once instead of waiting out the acquire timeout.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CircuitBreakerConfig {
    /// Off means connect failures are only retried with backoff.
    pub enabled: bool,
    /// Consecutive failed connects that open the breaker. Failed checkout validations do not
    /// count: after a restart every idle session is dead at once, and that says nothing about
    /// whether the server accepts new ones.
    pub failure_threshold: u32,
    /// How long the breaker first stays open before letting one trial connection through, and
    /// the shortest interval between trials. While trials keep failing the interval grows with
    /// the outage (a fifth of the time since the breaker first opened, up to
    /// `max_open_duration`), so the pool notices a database that is back within this long for
    /// outages up to five times this, and within a fifth of the outage after; a successful
    /// trial starts the next outage from this again. (Each interval is drawn between half of it
    /// and all of it.)
    #[serde(with = "humantime_serde")]
    pub open_duration: Duration,
    /// The longest the breaker stays open between two trials, however long the outage.
    #[serde(with = "humantime_serde")]
    pub max_open_duration: Duration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Five in a row is past any transient blip (the specification's default).
            failure_threshold: 5,
            // Short at first: most outages are blips (a restart, a failover, a full
            // `max_connections`), and the breaker must not outlast them by much. Refused connects
            // fail in microseconds, so five of them say little about how long the outage lasts.
            // A quarter second bounds the errors a caller meets after a restarted server is up
            // to that (it was 1 s: up to 0.47 s of `CircuitOpen` after a restart); it costs at
            // most four refused connects a second in the outage's first 1.25 s, after which the
            // interval grows with the outage anyway.
            open_duration: Duration::from_millis(250),
            // A long outage is probed once a minute at most.
            max_open_duration: Duration::from_secs(60),
        }
    }
}

/// The warm size when `min_size` is not set and `max_size` allows it.
pub const DEFAULT_MIN_SIZE: usize = 5;

impl PoolConfig {
    /// The minimum size in force: `min_size` if set, else [`DEFAULT_MIN_SIZE`] or `max_size`,
    /// whichever is smaller.
    pub fn effective_min_size(&self) -> usize {
        self.min_size
            .unwrap_or_else(|| DEFAULT_MIN_SIZE.min(self.max_size))
    }

    /// Checks every value; the error names the first bad field and says why.
    pub fn validate(&self) -> Result<()> {
        if self.max_size == 0 {
            return Err(Error::config("max_size", "must be at least 1"));
        }
        if let Some(min_size) = self.min_size
            && min_size > self.max_size
        {
            return Err(Error::config(
                "min_size",
                format!("({min_size}) must not exceed max_size ({})", self.max_size),
            ));
        }
        if self.max_concurrent_creates == 0 {
            return Err(Error::config(
                "max_concurrent_creates",
                "must be at least 1, or the pool could never open a connection",
            ));
        }
        nonzero("acquire_timeout", self.acquire_timeout)?;
        nonzero("connect_timeout", self.connect_timeout)?;
        nonzero("connect_backoff_initial", self.connect_backoff_initial)?;
        if self.connect_backoff_max < self.connect_backoff_initial {
            return Err(Error::config(
                "connect_backoff_max",
                "must not be shorter than connect_backoff_initial",
            ));
        }
        nonzero("health_check_timeout", self.health_check_timeout)?;
        nonzero("close_timeout", self.close_timeout)?;
        for (field, value) in [
            ("health_check_interval", self.health_check_interval),
            ("leak_detection_threshold", self.leak_detection_threshold),
            ("leak_reclaim_after", self.leak_reclaim_after),
            ("idle_timeout", self.idle_timeout),
            ("max_lifetime", self.max_lifetime),
            ("query_timeout", self.query_timeout),
        ] {
            if let Some(d) = value {
                nonzero(field, d)?;
            }
        }
        if let (Some(reclaim), threshold) = (self.leak_reclaim_after, self.leak_detection_threshold)
        {
            match threshold {
                None => {
                    return Err(Error::config(
                        "leak_reclaim_after",
                        "needs leak_detection_threshold to be set",
                    ));
                }
                Some(t) if reclaim < t => {
                    return Err(Error::config(
                        "leak_reclaim_after",
                        "must not be shorter than leak_detection_threshold",
                    ));
                }
                Some(_) => {}
            }
        }
        fraction("max_lifetime_jitter", self.max_lifetime_jitter, true)?;
        self.autoscale.validate()?;
        self.circuit_breaker.validate()
    }
}

impl AutoscaleConfig {
    fn validate(&self) -> Result<()> {
        nonzero("autoscale.sample_interval", self.sample_interval)?;
        fraction(
            "autoscale.target_utilization",
            self.target_utilization,
            false,
        )?;
        fraction(
            "autoscale.scale_up_threshold",
            self.scale_up_threshold,
            false,
        )?;
        fraction(
            "autoscale.scale_down_threshold",
            self.scale_down_threshold,
            false,
        )?;
        fraction("autoscale.step", self.step, false)?;
        if self.scale_down_threshold >= self.scale_up_threshold {
            return Err(Error::config(
                "autoscale.scale_down_threshold",
                format!(
                    "({}) must be below autoscale.scale_up_threshold ({}), or the pool would flap",
                    self.scale_down_threshold, self.scale_up_threshold
                ),
            ));
        }
        Ok(())
    }
}

impl CircuitBreakerConfig {
    fn validate(&self) -> Result<()> {
        if self.failure_threshold == 0 {
            return Err(Error::config(
                "circuit_breaker.failure_threshold",
                "must be at least 1",
            ));
        }
        nonzero("circuit_breaker.open_duration", self.open_duration)?;
        if self.max_open_duration < self.open_duration {
            return Err(Error::config(
                "circuit_breaker.max_open_duration",
                "must not be shorter than circuit_breaker.open_duration",
            ));
        }
        Ok(())
    }
}

/// An optional duration: a humane duration (`"30s"`), or `"off"` / `false` for none: TOML has
/// no null, so a file needs a word to turn a timeout off.
fn optional_duration<'de, D>(deserializer: D) -> std::result::Result<Option<Duration>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Flag(bool),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None | Some(Raw::Flag(false)) => Ok(None),
        Some(Raw::Flag(true)) => Err(serde::de::Error::custom(
            "expected a duration such as \"30s\", or \"off\"",
        )),
        Some(Raw::Text(text)) => match text.trim() {
            "off" | "none" | "disabled" => Ok(None),
            duration => humantime::parse_duration(duration).map(Some).map_err(|e| {
                serde::de::Error::custom(format!(
                    "is not a duration (`{duration}`: {e}); write it like \"500ms\", \"30s\", \"5m\" or \"off\""
                ))
            }),
        },
    }
}

fn nonzero(field: &str, value: Duration) -> Result<()> {
    if value.is_zero() {
        Err(Error::config(field, "must be longer than zero"))
    } else {
        Ok(())
    }
}

/// A fraction must be a number in 0..=1 (`allow_zero` for jitter, where 0 means none) or
/// strictly inside 0..1 for thresholds.
fn fraction(field: &str, value: f64, allow_zero: bool) -> Result<()> {
    let ok = if allow_zero {
        (0.0..1.0).contains(&value)
    } else {
        value > 0.0 && value < 1.0
    };
    if ok {
        Ok(())
    } else {
        let range = if allow_zero {
            "0 ≤ x < 1"
        } else {
            "0 < x < 1"
        };
        Err(Error::config(
            field,
            format!("({value}) must be a fraction, {range}"),
        ))
    }
}
