//! The load test: see `benches::load`. Exits 1 when the leak check fails, 2 when the run
//! could not start.
//!
//! ```text
//! cargo run --release -p benches --bin load -- --db noop --connections 1000
//! cargo run --release -p benches --bin load -- --db postgres --duration 30
//! cargo run --release -p benches --bin load -- --db noop --extreme 10000 --json extreme.json
//! ```

fn main() {
    std::process::exit(benches::load::main());
}
