//! The busy handler: waits for another connection's lock up to `busy_timeout`, like SQLite's
//! own `sqlite3_busy_timeout`, but gives up as soon as the statement is interrupted.
//!
//! SQLite's built-in handler sleeps through `sqlite3_interrupt`, so a query timeout could not
//! stop a statement waiting for a lock, and that statement might still write after its caller
//! was told it timed out. This handler sleeps in short slices and checks the connection's
//! interrupt flag between them.
//!
//! Requests are numbered; the connection's interrupt mark says "stop every request up to
//! number n". A request is interrupted when the mark has reached its number.
//!
//! rusqlite's busy handler is a plain `fn`, so the handler finds its connection's settings in a
//! thread-local: each connection has its own thread, which makes that exact.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// SQLite's own back-off (`sqliteDefaultBusyCallback`): delays and their running totals, in ms.
const DELAYS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
const TOTALS: [u64; 12] = [0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228];

/// The longest sleep between two looks at the interrupt flag.
const SLICE: Duration = Duration::from_millis(2);

struct Settings {
    timeout: Duration,
    /// Every request numbered up to this one is to stop.
    interrupt_mark: Arc<AtomicU64>,
}

thread_local! {
    static SETTINGS: RefCell<Option<Settings>> = const { RefCell::new(None) };
    /// The number of the request this thread is running (1 while opening: requests start at 1
    /// and none can be interrupted before the connection exists).
    static RUNNING: Cell<u64> = const { Cell::new(1) };
}

/// Installs the settings for the connection(s) opened on this thread.
pub(crate) fn install(timeout: Duration, interrupt_mark: Arc<AtomicU64>) {
    SETTINGS.with(|s| {
        *s.borrow_mut() = Some(Settings {
            timeout,
            interrupt_mark,
        });
    });
}

/// Records which request this thread runs now.
pub(crate) fn set_running(request: u64) {
    RUNNING.with(|r| r.set(request));
}

/// The handler given to `rusqlite::Connection::busy_handler`: true means "try the lock again".
pub(crate) fn handler(count: i32) -> bool {
    let Some((timeout, mark)) = SETTINGS.with(|s| {
        s.borrow()
            .as_ref()
            .map(|s| (s.timeout, Arc::clone(&s.interrupt_mark)))
    }) else {
        return false;
    };
    let running = RUNNING.with(Cell::get);
    let interrupted = || mark.load(Ordering::Acquire) >= running;
    let Some(delay) = next_delay(count, timeout) else {
        return false;
    };
    let mut left = delay;
    while !left.is_zero() {
        if interrupted() {
            return false;
        }
        let step = left.min(SLICE);
        std::thread::sleep(step);
        left -= step;
    }
    !interrupted()
}

/// How long to sleep before retry number `count`, or `None` once `timeout` is used up.
fn next_delay(count: i32, timeout: Duration) -> Option<Duration> {
    let count = usize::try_from(count).unwrap_or(0);
    let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let (delay, prior) = match DELAYS.get(count) {
        Some(&delay) => (delay, TOTALS[count]),
        None => {
            let last = DELAYS.len() - 1;
            let extra = (count - last) as u64;
            (DELAYS[last], TOTALS[last] + DELAYS[last] * extra)
        }
    };
    let delay = delay.min(timeout.saturating_sub(prior));
    (delay > 0).then(|| Duration::from_millis(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_sqlite_and_stop_at_the_timeout() {
        let timeout = Duration::from_millis(100);
        let total: u64 = (0..)
            .map_while(|count| next_delay(count, timeout))
            .map(|d| d.as_millis() as u64)
            .sum();
        assert_eq!(total, 100);
        assert_eq!(next_delay(0, timeout), Some(Duration::from_millis(1)));
        assert_eq!(next_delay(0, Duration::ZERO), None);
        // Past the table, 100 ms steps continue up to a long timeout.
        assert_eq!(
            next_delay(20, Duration::from_secs(5)),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn an_interrupted_request_stops_waiting_and_a_later_one_waits() {
        let mark = Arc::new(AtomicU64::new(0));
        install(Duration::from_secs(5), Arc::clone(&mark));
        set_running(3);
        assert!(handler(0), "not interrupted: retry");
        mark.store(3, Ordering::Release);
        assert!(!handler(0), "interrupted: give up");
        set_running(4);
        assert!(handler(0), "the mark does not reach the next request");
    }
}
