//! The one clock every stored time and every deadline is read from: wall time in
//! milliseconds since the epoch, plus an offset that only moves forward. Tests move it
//! (through `AppState::advance_clock`, which also wakes the loops that wait for a time)
//! to reach an `exec_time` or an approval deadline an hour away without waiting an hour.
//!
//! The offset belongs to the process: tests that move it run in a test binary of their
//! own (`backend/tests/clock.rs`), so no other test sees it move.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis() + OFFSET_MS.load(Ordering::Relaxed)
}

/// Moves the clock forward by `by`.
pub fn advance(by: Duration) {
    OFFSET_MS.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
}
