//! `cargo xtask conformance`: the shared conformance suite against every adapter, printed as a
//! case × adapter matrix.
//!
//! The suite and the adapters live in the `conformance` crate's `conformance-matrix` binary;
//! this task only runs it through `$CARGO`, so xtask itself stays quick to compile and never
//! depends on a database driver. The binary exits non-zero on any failed case, and on a skipped
//! (unreachable) database that `--require` names.

use clap::Args;

/// Options of `cargo xtask conformance`, passed on to `conformance-matrix`.
#[derive(Debug, Args)]
pub(crate) struct ConformanceArgs {
    /// Run only these adapters (comma-separated): postgres, mysql, sqlite, pgbouncer
    /// (adapter-postgres through a throwaway PgBouncer in transaction mode).
    #[arg(long, value_delimiter = ',')]
    adapter: Vec<String>,
    /// Fail instead of skipping when one of these adapters' databases cannot be reached
    /// (comma-separated); CI passes all four.
    #[arg(long, value_delimiter = ',')]
    require: Vec<String>,
    /// Run only the cases with these names (comma-separated).
    #[arg(long, value_delimiter = ',')]
    case: Vec<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

impl ConformanceArgs {
    /// What CI runs: every adapter, every database required (PgBouncer included:
    /// `services::ensure_pgbouncer` installs it first).
    pub(crate) fn require_all() -> Self {
        Self {
            adapter: Vec::new(),
            require: ["postgres", "mysql", "sqlite", "pgbouncer"]
                .map(str::to_owned)
                .to_vec(),
            case: Vec::new(),
            json: false,
        }
    }

    /// The command line for `conformance-matrix`.
    fn matrix_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, values) in [
            ("--adapter", &self.adapter),
            ("--require", &self.require),
            ("--case", &self.case),
        ] {
            if !values.is_empty() {
                args.push(flag.to_owned());
                args.push(values.join(","));
            }
        }
        if self.json {
            args.push("--json".to_owned());
        }
        args
    }
}

/// Builds and runs the matrix; an error when any case failed or a required adapter was skipped.
pub(crate) fn run(args: &ConformanceArgs) -> Result<(), String> {
    let mut command = vec![
        "run",
        "--quiet",
        "--package",
        "conformance",
        "--bin",
        "conformance-matrix",
        "--",
    ];
    let matrix_args = args.matrix_args();
    command.extend(matrix_args.iter().map(String::as_str));
    crate::cargo(&command)
        .map_err(|_| "the conformance suite failed (see the matrix above)".to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ConformanceArgs,
    }

    #[test]
    fn options_reach_the_matrix_binary_unchanged() {
        let cli = Cli::parse_from([
            "xtask",
            "--adapter",
            "postgres,sqlite",
            "--require",
            "postgres",
            "--require",
            "sqlite",
            "--json",
        ]);
        assert_eq!(
            cli.args.matrix_args(),
            [
                "--adapter",
                "postgres,sqlite",
                "--require",
                "postgres,sqlite",
                "--json"
            ]
        );
        assert!(Cli::parse_from(["xtask"]).args.matrix_args().is_empty());
    }
}
