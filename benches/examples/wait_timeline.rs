//! Where in time the long waits of the fairness scenario fall, to tell a pool's own unfairness
//! from the machine's stalls.
//!
//! Runs the first scenario of the fairness bench (1,024 tasks, 4 connections, one
//! `yield_now` while holding) in rounds, records when each get started and how long it waited,
//! and prints per round the p50 and p99 wait and the start times (in 200 µs buckets) of the gets
//! that waited more than 1.3 × p50. A pool that lets callers overtake shows long waits spread
//! over the whole run; a stall of the machine (a worker thread descheduled) shows as one dense
//! cluster: every get that started in that window waited, whatever the pool.
//!
//! `cargo run --release -p benches --example wait_timeline -- [ours|ours-fair|deadpool|floor] [rounds]`
//! (all four pools when no name is given; 3 rounds by default).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::competitors::{BenchPool, DeadpoolPool, OursFairPool, OursPool, SemaphoreFloor};
use benches::workload;

const TASKS: usize = 1024;
const CONNECTIONS: usize = 4;
const CYCLES: usize = 50;
/// Width of the buckets long waits are counted in, by start time.
const BUCKET_MICROS: u128 = 200;

/// One get: when it started (since the round began) and how long it waited.
type Get = (Duration, Duration);

/// Runs `rounds` rounds of the scenario on one pool and prints each.
fn timeline<P: BenchPool>(rounds: usize) {
    let runtime = workload::runtime();
    let pool = Arc::new(runtime.block_on(P::build(CONNECTIONS)));
    for round in 0..rounds {
        let gets = runtime.block_on(one_round(&pool));
        print_round(P::NAME, round, &gets);
    }
}

async fn one_round<P: BenchPool>(pool: &Arc<P>) -> Vec<Get> {
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut gets = Vec::with_capacity(CYCLES);
            for _ in 0..CYCLES {
                let asked = Instant::now();
                let mut conn = pool.get().await.expect("a get in the wait timeline");
                gets.push((asked - began, asked.elapsed()));
                P::touch(&mut conn);
                tokio::task::yield_now().await;
                drop(conn);
            }
            gets
        }));
    }
    let mut all = Vec::with_capacity(TASKS * CYCLES);
    for task in tasks {
        all.extend(task.await.expect("a wait-timeline task"));
    }
    all
}

fn print_round(pool: &str, round: usize, gets: &[Get]) {
    let mut waits: Vec<Duration> = gets.iter().map(|&(_, wait)| wait).collect();
    waits.sort_unstable();
    let p50 = waits[waits.len() / 2];
    let p99 = waits[waits.len() * 99 / 100];
    let long = p50.mul_f64(1.3);
    let mut buckets: BTreeMap<u128, usize> = BTreeMap::new();
    for &(start, wait) in gets {
        if wait > long {
            *buckets
                .entry(start.as_micros() / BUCKET_MICROS * BUCKET_MICROS)
                .or_default() += 1;
        }
    }
    let total: usize = buckets.values().sum();
    let clusters: Vec<String> = buckets
        .iter()
        .filter(|&(_, &count)| count >= 20)
        .map(|(start, count)| format!("{start}:{count}"))
        .collect();
    println!(
        "{pool} round {round}: p50 {p50:.1?} p99 {p99:.1?} p99/p50 {:.2}; {total} long waits \
         (> 1.3 × p50); buckets of 200 µs with 20 or more (start µs:count): [{}]",
        p99.as_secs_f64() / p50.as_secs_f64(),
        clusters.join(" ")
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let rounds = match args.next().map(|n| n.parse::<usize>()) {
        None => 3,
        Some(Ok(rounds)) => rounds,
        Some(Err(_)) => {
            eprintln!("usage: wait_timeline [ours|ours-fair|deadpool|floor] [rounds]");
            std::process::exit(2);
        }
    };
    match which.as_str() {
        "ours" => timeline::<OursPool>(rounds),
        "ours-fair" => timeline::<OursFairPool>(rounds),
        "deadpool" => timeline::<DeadpoolPool>(rounds),
        "floor" => timeline::<SemaphoreFloor>(rounds),
        _ => {
            timeline::<OursPool>(rounds);
            timeline::<OursFairPool>(rounds);
            timeline::<DeadpoolPool>(rounds);
            timeline::<SemaphoreFloor>(rounds);
        }
    }
}
