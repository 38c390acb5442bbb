//! Login rate limiting: a bounded number of failures per (username, address) per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<(String, String), (u32, Instant)>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window_secs: u64) -> Self {
        LoginLimiter { max_failures, window: Duration::from_secs(window_secs), failures: Mutex::default() }
    }

    /// Seconds to wait when this pair has used up its failures, else `None`.
    pub fn blocked_for(&self, user: &str, addr: &str) -> Option<u64> {
        let map = self.failures.lock().expect("limiter lock");
        let (count, since) = map.get(&(user.to_string(), addr.to_string()))?;
        let left = self.window.checked_sub(since.elapsed())?;
        (*count >= self.max_failures).then(|| left.as_secs().max(1))
    }

    pub fn record_failure(&self, user: &str, addr: &str) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let entry = map.entry((user.to_string(), addr.to_string())).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn record_success(&self, user: &str, addr: &str) {
        self.failures.lock().expect("limiter lock").remove(&(user.to_string(), addr.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_success_clears() {
        let l = LoginLimiter::new(2, 60);
        l.record_failure("a", "ip");
        assert_eq!(l.blocked_for("a", "ip"), None);
        l.record_failure("a", "ip");
        assert!(l.blocked_for("a", "ip").is_some());
        assert_eq!(l.blocked_for("a", "other-ip"), None);
        l.record_success("a", "ip");
        assert_eq!(l.blocked_for("a", "ip"), None);
    }
}
