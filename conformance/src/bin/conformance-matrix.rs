//! Runs the conformance suite against the workspace's adapters and prints the matrix, case ×
//! adapter: pass, FAIL, skipped (database unreachable) or n/a, with every reason spelled out.
//!
//! Exits non-zero when a case failed, or when an adapter named by `--require` was skipped.
//! `cargo xtask conformance` runs this binary.

use std::process::ExitCode;

use clap::Parser;
use conformance::{Matrix, SuiteReport, run_suite, targets};

/// The adapters this binary knows, in the order they run.
const ADAPTERS: [&str; 4] = ["postgres", "mysql", "sqlite", "pgbouncer"];

#[derive(Debug, Parser)]
#[command(
    about = "Run the conformance suite against every adapter and print the case × adapter matrix",
    after_help = "Servers: CONFORMANCE_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test), \
                  CONFORMANCE_MYSQL_URL (default mysql://root@127.0.0.1:3306/test), \
                  CONFORMANCE_SQLITE_DIR (default: the temporary directory); pgbouncer starts a \
                  throwaway PgBouncer and PostgreSQL of its own."
)]
struct Args {
    /// Run only these adapters (comma-separated or repeated): postgres, mysql, sqlite,
    /// pgbouncer (adapter-postgres through a throwaway PgBouncer in transaction mode).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(ADAPTERS))]
    adapter: Vec<String>,
    /// Adapters that must run: an unreachable database among them fails the run instead of
    /// being skipped.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(ADAPTERS))]
    require: Vec<String>,
    /// Run only the cases with these names (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    case: Vec<String>,
    /// Print the results as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    for name in &args.case {
        if !conformance::case_names().contains(&name.as_str()) {
            eprintln!(
                "conformance-matrix: no case is named {name}; the cases are:\n  {}",
                conformance::case_names().join("\n  ")
            );
            return ExitCode::from(2);
        }
    }
    let cases: Vec<&str> = args.case.iter().map(String::as_str).collect();
    let only = (!cases.is_empty()).then_some(cases.as_slice());
    let selected: Vec<&str> = ADAPTERS
        .into_iter()
        .filter(|a| args.adapter.is_empty() || args.adapter.iter().any(|s| s == a))
        .collect();

    let mut suites: Vec<SuiteReport> = Vec::new();
    for adapter in selected {
        if !args.json {
            eprintln!("conformance: running {adapter} …");
        }
        let suite = match adapter {
            "postgres" => run_suite(targets::PostgresTarget::from_env(), only).await,
            "mysql" => run_suite(targets::MysqlTarget::from_env(), only).await,
            "sqlite" => run_suite(targets::SqliteTarget::from_env(), only).await,
            "pgbouncer" => {
                let target = tokio::task::spawn_blocking(targets::PgbouncerTarget::start)
                    .await
                    .expect("starting the throwaway PgBouncer does not panic");
                run_suite(target, only).await
            }
            other => unreachable!("clap only accepts known adapters, not {other}"),
        };
        suites.push(suite);
    }

    let matrix = Matrix::new(suites, args.require);
    let failures = matrix.failures();
    if args.json {
        match serde_json::to_string_pretty(&matrix) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("conformance-matrix: cannot serialize the results: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", matrix.render());
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("\nconformance: {} failure(s):", failures.len());
        for failure in &failures {
            eprintln!("  {failure}");
        }
        ExitCode::FAILURE
    }
}
