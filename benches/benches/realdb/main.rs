//! The pool in front of real databases, beside the raw drivers and the other pools.
//!
//! * PostgreSQL and MariaDB: `SELECT 1`, pools of 16 connections shared by 64 tasks, beside the
//!   raw driver (16 tasks each owning one connection: the upper bound), our adapter without a
//!   pool (16 tasks, one `PostgresConnection`/`MysqlConnection` each: isolates the pool's own
//!   cost from the adapter's), deadpool-postgres and bb8-postgres, or mysql_async's own pool.
//!   Prepared statements are cached everywhere they are used.
//! * SQLite (temporary WAL file, 10,000 rows): point reads and single-row updates, 16 tasks
//!   over a pool of 4, beside rusqlite on 4 dedicated threads and our adapter without a pool.
//!
//! Our pool runs twice: `reset_on_return = false` (the comparison) and with the default reset
//! (what the default costs); for MariaDB also through the tracked native API
//! (`conn.queryable()`) and with the old default reset (`session_reset=reset_connection`). Contenders run one after the other for `--secs` seconds (default
//! 3), in `--rounds` interleaved rounds (default 2); the table shows the best round.
//!
//! `cargo bench -p benches --bench realdb [-- --secs 3 --rounds 2 --only postgres,mysql,sqlite]`;
//! `--contenders deadpool,defaults` keeps only the contenders whose name contains one of the parts;
//! `-- --test` runs each contender for 0.2 s. A database that cannot be reached is skipped with
//! a note. URLs: `$PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`), `$MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/test`). Results: `bench-results/realdb.json`.

mod drive;
mod mysql;
mod postgres;
mod sqlite;

use std::time::Duration;

use serde::Serialize;

/// Builds the contender list of one database.
type MakeSuite = fn() -> drive::Suite;

/// One measured contender.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// "postgres", "mysql", "sqlite-read", "sqlite-update".
    pub suite: &'static str,
    /// The contender.
    pub name: String,
    /// Best round, operations per second; `None` when it failed (see `note`).
    pub ops_per_sec: Option<f64>,
    /// Why there is no number.
    pub note: Option<String>,
}

struct Options {
    secs: Duration,
    rounds: usize,
    only: Option<Vec<String>>,
    /// `--contenders a,b`: only contenders whose name contains one of these.
    contenders: Option<Vec<String>>,
    smoke: bool,
}

impl Options {
    fn wants_contender(&self, name: &str) -> bool {
        self.contenders
            .as_ref()
            .is_none_or(|c| c.iter().any(|part| name.contains(part.as_str())))
    }
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let smoke = args.iter().any(|a| a == "--test");
    let secs = value("--secs")
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(if smoke { 0.2 } else { 3.0 });
    Options {
        secs: Duration::from_secs_f64(secs),
        rounds: value("--rounds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(if smoke { 1 } else { 2 }),
        only: value("--only").map(|s| s.split(',').map(str::to_owned).collect()),
        contenders: value("--contenders").map(|s| s.split(',').map(str::to_owned).collect()),
        smoke,
    }
}

fn main() {
    let opts = options();
    let runtime = benches::workload::runtime();
    let wanted = |suite: &str| {
        opts.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| suite.starts_with(s.as_str())))
    };
    let mut rows = Vec::new();
    let suites: [(&str, MakeSuite); 3] = [
        ("postgres", postgres::suite),
        ("mysql", mysql::suite),
        ("sqlite", sqlite::suite),
    ];
    for (name, make) in suites {
        if !wanted(name) {
            continue;
        }
        let suite = make();
        rows.extend(runtime.block_on(run_suite(suite, &opts)));
    }
    print_table(&rows);
    if !opts.smoke {
        match benches::results::write("realdb", &rows) {
            Ok(path) => eprintln!("written: {}", path.display()),
            Err(e) => eprintln!("could not write results: {e}"),
        }
    }
}

/// Runs the contenders round-robin, each set up afresh per round (after a short warm-up);
/// keeps each one's best round.
async fn run_suite(suite: drive::Suite, opts: &Options) -> Vec<Row> {
    let mut rows = Vec::new();
    for group in suite.groups {
        let n = group.contenders.len();
        let mut best = vec![None::<f64>; n];
        let mut notes = vec![None::<String>; n];
        for _ in 0..opts.rounds {
            for (i, (name, setup)) in group.contenders.iter().enumerate() {
                if notes[i].is_some() || !opts.wants_contender(name) {
                    continue;
                }
                let result = async {
                    let mut contender = setup().await.map_err(|e| format!("skipped: {e}"))?;
                    contender.run(WARM_UP).await?;
                    contender.run(opts.secs).await
                }
                .await;
                match result {
                    Ok(ops) => {
                        let rate = ops as f64 / opts.secs.as_secs_f64();
                        best[i] = Some(best[i].map_or(rate, |b: f64| b.max(rate)));
                    }
                    Err(e) => {
                        eprintln!("{} / {name}: {e}", group.suite);
                        notes[i] = Some(e);
                    }
                }
            }
        }
        for (i, (name, _)) in group.contenders.into_iter().enumerate() {
            if !opts.wants_contender(&name) {
                continue;
            }
            rows.push(Row {
                suite: group.suite,
                name,
                ops_per_sec: best[i],
                note: notes[i].take(),
            });
        }
    }
    rows
}

/// Untimed run before each measured one: connections warm, statements prepared.
const WARM_UP: Duration = Duration::from_millis(300);

fn print_table(rows: &[Row]) {
    println!("| suite | contender | ops/s | vs first row of suite |");
    println!("|---|---|---:|---:|");
    let mut reference: Option<(&str, f64)> = None;
    for r in rows {
        if reference.is_none_or(|(s, _)| s != r.suite) {
            reference = r.ops_per_sec.map(|v| (r.suite, v));
        }
        match r.ops_per_sec {
            Some(v) => {
                let rel = reference
                    .filter(|(s, _)| *s == r.suite)
                    .map_or("—".to_owned(), |(_, base)| {
                        format!("{:+.1} %", (v / base - 1.0) * 100.0)
                    });
                println!("| {} | {} | {v:.0} | {rel} |", r.suite, r.name);
            }
            None => println!(
                "| {} | {} | — | {} |",
                r.suite,
                r.name,
                r.note.as_deref().unwrap_or("")
            ),
        }
    }
}
