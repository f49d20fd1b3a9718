//! Running contenders. A contender is set up right before each of its rounds and dropped right
//! after, so only one of them holds database connections at a time (the servers here are
//! shared and PostgreSQL allows 100 sessions in all). Setup is never timed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A boxed future, for setups and runs of different types in one list.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One operation of worker `w` on the shared state `S`.
pub type Op<S> = fn(Arc<S>, usize) -> BoxFuture<Result<(), String>>;

/// Something measured: runs its workers for a while, returns how many operations completed.
pub trait Contender: Send {
    /// One timed round.
    fn run(&mut self, secs: Duration) -> BoxFuture<Result<u64, String>>;
}

/// Makes a fresh contender (opens its connections or builds its pool).
pub type Setup = Box<dyn Fn() -> BoxFuture<Result<Box<dyn Contender>, String>>>;

/// Contenders compared with each other (same query, same data).
pub struct Group {
    /// The suite name in the table.
    pub suite: &'static str,
    /// Name and setup of each contender, in table order (the raw driver first).
    pub contenders: Vec<(String, Setup)>,
}

/// The groups of one database.
pub struct Suite {
    /// In order.
    pub groups: Vec<Group>,
}

/// The common contender: shared state and `workers` tasks looping over `op`.
pub struct Loop<S> {
    state: Arc<S>,
    workers: usize,
    op: Op<S>,
}

impl<S: Send + Sync + 'static> Loop<S> {
    /// A contender of `workers` tasks.
    pub fn new(state: S, workers: usize, op: Op<S>) -> Self {
        Self {
            state: Arc::new(state),
            workers,
            op,
        }
    }
}

impl<S: Send + Sync + 'static> Contender for Loop<S> {
    fn run(&mut self, secs: Duration) -> BoxFuture<Result<u64, String>> {
        let (state, op) = (self.state.clone(), self.op);
        Box::pin(run_for(self.workers, secs, move |w| op(state.clone(), w)))
    }
}

/// Runs `workers` copies of `op` in a loop until `secs` pass; returns the operations completed.
/// The first error ends the round.
pub async fn run_for<F, Fut>(workers: usize, secs: Duration, op: F) -> Result<u64, String>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let op = Arc::new(op);
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let (stop, op) = (stop.clone(), op.clone());
        handles.push(tokio::spawn(async move {
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                op(w).await?;
                done += 1;
            }
            Ok::<_, String>(done)
        }));
    }
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for h in handles {
        total += h.await.map_err(text)??;
    }
    Ok(total)
}

/// A named setup for [`Group::contenders`].
pub fn setup<C, F, Fut>(name: &str, make: F) -> (String, Setup)
where
    C: Contender + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<C, String>> + Send + 'static,
{
    let setup: Setup = Box::new(move || {
        let future = make();
        Box::pin(async move { future.await.map(|c| Box::new(c) as Box<dyn Contender>) })
    });
    (name.to_owned(), setup)
}

/// Renders any error as text.
pub fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
