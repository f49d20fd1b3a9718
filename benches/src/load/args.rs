//! The load test's command line.

use std::time::Duration;

use clap::{ArgGroup, Parser, ValueEnum};
use pool_core::PoolConfig;
use serde::Serialize;

/// Which connector the pool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Db {
    /// pool-core's no-op `TestConnector`: measures the pool alone.
    Noop,
    /// A temporary SQLite file (or `--url`).
    Sqlite,
    /// PostgreSQL at 127.0.0.1:5432, database `test`, user `postgres` (or `--url`).
    Postgres,
    /// MariaDB/MySQL at 127.0.0.1:3306, database `test`, user `root` (or `--url`).
    Mysql,
}

/// Which scenario runs, with its size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// N tasks at once, `--iterations` cycles each.
    Connections(usize),
    /// `--workers` workers for this many seconds.
    Duration(u64),
    /// N tasks started in batches, with an outage mid-run.
    Extreme(usize),
}

/// Load test for pool-core: acquire → query → release under many concurrent tasks.
#[derive(Debug, Parser)]
#[command(name = "load", version)]
#[command(group(ArgGroup::new("scenario").required(true).args(["connections", "duration", "extreme"])))]
pub struct Args {
    /// The database behind the pool.
    #[arg(long, value_enum, default_value_t = Db::Noop)]
    pub db: Db,
    /// Connection URL (defaults to the local test servers / a temporary SQLite file).
    #[arg(long)]
    pub url: Option<String>,
    /// Scenario: this many concurrent tasks, each doing `--iterations` cycles.
    #[arg(long)]
    pub connections: Option<usize>,
    /// Scenario: sustained load for this many seconds (`--workers` workers, in phases).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Scenario: this many concurrent tasks started in batches of `--batch`, with an outage.
    #[arg(long)]
    pub extreme: Option<usize>,
    /// Cycles per task in the connections scenario.
    #[arg(long, default_value_t = 10)]
    pub iterations: u64,
    /// Workers in the duration scenario.
    #[arg(long, default_value_t = 50)]
    pub workers: usize,
    /// Tasks started per batch in the extreme scenario.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// How long the extreme scenario runs, in seconds.
    #[arg(long, default_value_t = 10)]
    pub extreme_secs: u64,
    /// How long the database stays down in the extreme scenario (0 = no outage), in seconds.
    #[arg(long = "outage-secs", value_name = "SECS", default_value = "2", value_parser = seconds)]
    pub outage: Duration,
    /// How long a task keeps its connection after the query (the rest of its "transaction").
    #[arg(long = "hold-ms", value_name = "MS", default_value = "1", value_parser = milliseconds)]
    pub hold: Duration,
    /// The pool's max_size (default: `PoolConfig`'s, 100).
    #[arg(long)]
    pub pool_size: Option<usize>,
    /// The pool's min_size; the auto-scaler moves the warm size between it and max_size
    /// (default: `PoolConfig`'s, 5).
    #[arg(long)]
    pub min_size: Option<usize>,
    /// The pool's acquire timeout, in seconds (default: `PoolConfig`'s, 30).
    #[arg(long, value_parser = seconds)]
    pub acquire_timeout: Option<Duration>,
    /// The auto-scaler's cool-down before shrinking, in seconds (default: `PoolConfig`'s, one
    /// minute, longer than most runs: pass e.g. 3 to see the duration scenario's scale-down).
    #[arg(long, value_parser = seconds)]
    pub scale_down_cooldown: Option<Duration>,
    /// The statement each cycle runs.
    #[arg(long, default_value = "SELECT 1")]
    pub sql: String,
    /// Tokio worker threads.
    #[arg(long = "threads", default_value_t = 2)]
    pub workers_threads: usize,
    /// Also write the report as JSON to this file (`-` for stdout).
    #[arg(long)]
    pub json: Option<String>,
}

impl Args {
    /// The chosen scenario.
    pub fn scenario(&self) -> Scenario {
        match (self.connections, self.duration, self.extreme) {
            (Some(n), _, _) => Scenario::Connections(n),
            (_, Some(s), _) => Scenario::Duration(s),
            (_, _, Some(n)) => Scenario::Extreme(n),
            _ => unreachable!("clap requires one scenario"),
        }
    }

    /// The pool's configuration: `PoolConfig::default()`, named, with only what the command
    /// line asks to change (see [`overrides`](Self::overrides)). Printed in the report.
    pub fn pool_config(&self) -> PoolConfig {
        let mut c = PoolConfig::default();
        c.name = "load".into();
        if let Some(max) = self.pool_size {
            c.max_size = max;
        }
        if let Some(min) = self.min_size {
            c.min_size = Some(min.min(c.max_size));
        }
        if let Some(timeout) = self.acquire_timeout {
            c.acquire_timeout = timeout;
        }
        if let Some(cooldown) = self.scale_down_cooldown {
            c.autoscale.scale_down_cooldown = cooldown;
        }
        c
    }

    /// The settings the command line changed from the defaults, as `name value` pairs, for the
    /// report; empty when the pool runs the defaults as users get them.
    pub fn overrides(&self) -> Vec<String> {
        let c = self.pool_config();
        let mut changed = Vec::new();
        if self.pool_size.is_some() {
            changed.push(format!("max_size {}", c.max_size));
        }
        if self.min_size.is_some() {
            changed.push(format!("min_size {}", c.effective_min_size()));
        }
        if self.acquire_timeout.is_some() {
            changed.push(format!("acquire_timeout {:?}", c.acquire_timeout));
        }
        if self.scale_down_cooldown.is_some() {
            changed.push(format!(
                "scale-down cooldown {:?}",
                c.autoscale.scale_down_cooldown
            ));
        }
        changed
    }
}

/// A span given in seconds: a number from 0 up that fits a `Duration`.
fn seconds(text: &str) -> Result<Duration, String> {
    span(text, "seconds", 1.0)
}

/// A span given in milliseconds, checked as [`seconds`] is.
fn milliseconds(text: &str) -> Result<Duration, String> {
    span(text, "milliseconds", 1e3)
}

/// Parses a span given in `unit`s, `per_second` of them to a second: refused by name, never a
/// panic, when it is not a number, is negative or does not fit a `Duration` (`inf`, `NaN`).
fn span(text: &str, unit: &str, per_second: f64) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of {unit}"))?;
    if value < 0.0 {
        return Err(format!(
            "`{text}` {unit} is negative: give a number from 0 up"
        ));
    }
    Duration::try_from_secs_f64(value / per_second)
        .map_err(|_| format!("`{text}` {unit} is not a span of time: give a number from 0 up"))
}
