//! Every pool under test behind one trait, so a benchmark is written once.
//!
//! Each competitor manages the same no-op connection ([`NoopConn`]) and is configured to do
//! no per-checkout work it would not need for a no-op connection: no test on checkout, no
//! recycle query, no reset. What remains is the pool's own machinery, which is what the
//! overhead benchmarks are meant to compare. pool-core runs twice: `ours` with the default
//! configuration users get (the headline; its session reset, checkout validation and leak
//! tracking stay on, and must cost nothing when there is nothing to do), and `ours-fair` with
//! that work off, as the others run.
//!
//! [`for_each_pool`] hands each competitor's *type* to a [`Visitor`], so grid code stays
//! generic (no boxing, no dynamic dispatch on the measured path).

mod bb8;
mod deadpool;
mod floor;
mod mobc;
mod ours;
mod qp;

use std::future::Future;

pub use self::bb8::Bb8Pool;
pub use self::deadpool::DeadpoolPool;
pub use self::floor::SemaphoreFloor;
pub use self::mobc::MobcPool;
pub use self::ours::{OursFairPool, OursPool, default_config, fair_config};
pub use self::qp::QpPool;

/// The connection the competitors manage: nothing behind it, one field to read so the
/// "touch" cannot be optimised away.
#[derive(Debug, Default)]
pub struct NoopConn {
    /// Bumped on every touch.
    pub uses: u64,
}

/// A pool as the benchmarks drive it.
pub trait BenchPool: Send + Sync + Sized + 'static {
    /// The name used in benchmark ids and tables.
    const NAME: &'static str;

    /// A checked-out connection; dropping it returns it to the pool.
    type Conn<'a>: Send
    where
        Self: 'a;

    /// Builds a pool of exactly `size` connections, all opened before it is returned, so no
    /// benchmark measures connection creation.
    fn build(size: usize) -> impl Future<Output = Self> + Send;

    /// Gets a connection. Errors become text: they end a benchmark, they are never measured.
    fn get(&self) -> impl Future<Output = Result<Self::Conn<'_>, String>> + Send;

    /// Uses the connection the cheapest way that still reads it.
    fn touch(conn: &mut Self::Conn<'_>);
}

/// Receives each competitor's type; see [`for_each_pool`].
pub trait Visitor {
    /// Called once per competitor.
    fn visit<P: BenchPool>(&mut self);
}

/// Calls `visitor` with every pool, ours first (defaults, then the fair configuration), and
/// last the [`SemaphoreFloor`], which is not a pool but the bound under them all.
pub fn for_each_pool(visitor: &mut impl Visitor) {
    visitor.visit::<OursPool>();
    visitor.visit::<OursFairPool>();
    visitor.visit::<DeadpoolPool>();
    visitor.visit::<Bb8Pool>();
    visitor.visit::<MobcPool>();
    visitor.visit::<QpPool>();
    visitor.visit::<SemaphoreFloor>();
}

/// The competitors' names in [`for_each_pool`] order.
pub const NAMES: [&str; 7] = [
    OursPool::NAME,
    OursFairPool::NAME,
    DeadpoolPool::NAME,
    Bb8Pool::NAME,
    MobcPool::NAME,
    QpPool::NAME,
    SemaphoreFloor::NAME,
];

/// Opens all `size` connections of a lazily-filling pool by holding `size` of them at once.
pub(crate) async fn warm<P: BenchPool>(pool: &P, size: usize) {
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        held.push(pool.get().await.expect("warming the pool"));
    }
}
