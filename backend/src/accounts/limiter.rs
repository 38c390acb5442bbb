//! Login rate limiting: a bounded number of failures per (username, address) pair and per
//! address across all usernames, within a window. An attempt is counted before its password
//! is checked, so concurrent attempts can never pass the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest username kept as a key: longer ones cannot exist (see `validate::username`).
const MAX_KEY_CHARS: usize = 64;
/// Past this many keys, expired ones are dropped before a new one is added.
const PRUNE_ABOVE: usize = 100_000;

#[derive(Clone, Copy)]
struct Window {
    count: u32,
    since: Instant,
}

#[derive(Default)]
struct Counts {
    pairs: HashMap<(String, String), Window>,
    addresses: HashMap<String, Window>,
}

pub struct LoginLimiter {
    max_per_pair: u32,
    max_per_address: u32,
    window: Duration,
    counts: Mutex<Counts>,
}

/// The address whose failures are counted together: an IPv4 address, or the /64 network
/// of an IPv6 one (a single client usually holds a whole /64).
fn address_key(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => addr.to_string(),
    }
}

/// The username as counted: at most 64 characters, so a huge one costs no memory.
pub fn username_key(user: &str) -> &str {
    match user.char_indices().nth(MAX_KEY_CHARS) {
        Some((end, _)) => &user[..end],
        None => user,
    }
}

impl LoginLimiter {
    pub fn new(max_per_pair: u32, max_per_address: u32, window_secs: u64) -> Self {
        LoginLimiter {
            max_per_pair,
            max_per_address,
            window: Duration::from_secs(window_secs),
            counts: Mutex::default(),
        }
    }

    /// Counts one attempt for `user` from `addr` as a failure, unless the pair or the
    /// address has used up its failures: then returns the seconds to wait. The attempt
    /// stays counted unless [`succeeded`](Self::succeeded) or [`refund`](Self::refund) follows.
    pub fn reserve(&self, user: &str, addr: &str) -> Result<(), u64> {
        let window = self.window;
        let mut counts = self.counts.lock().expect("limiter lock");
        if counts.pairs.len() + counts.addresses.len() > PRUNE_ABOVE {
            counts.pairs.retain(|_, w| w.since.elapsed() < window);
            counts.addresses.retain(|_, w| w.since.elapsed() < window);
        }
        let fresh = || Window { count: 0, since: Instant::now() };
        let current = |w: Option<&Window>| w.copied().filter(|w| w.since.elapsed() < window).unwrap_or_else(fresh);
        let pair_key = (username_key(user).to_string(), address_key(addr));
        let mut pair = current(counts.pairs.get(&pair_key));
        let mut address = current(counts.addresses.get(&pair_key.1));
        for (w, max) in [(&pair, self.max_per_pair), (&address, self.max_per_address)] {
            if w.count >= max {
                let left = window.saturating_sub(w.since.elapsed());
                return Err(left.as_secs().max(1));
            }
        }
        pair.count += 1;
        address.count += 1;
        counts.addresses.insert(pair_key.1.clone(), address);
        counts.pairs.insert(pair_key, pair);
        Ok(())
    }

    /// The reserved attempt was a successful login: the pair starts afresh, and the
    /// attempt is taken off the address's count (the address's other failures stay).
    pub fn succeeded(&self, user: &str, addr: &str) {
        let key = (username_key(user).to_string(), address_key(addr));
        let mut counts = self.counts.lock().expect("limiter lock");
        counts.pairs.remove(&key);
        if let Some(w) = counts.addresses.get_mut(&key.1) {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// The reserved attempt was not decided (the server was busy or failed): it does not count.
    pub fn refund(&self, user: &str, addr: &str) {
        let key = (username_key(user).to_string(), address_key(addr));
        let mut counts = self.counts.lock().expect("limiter lock");
        if let Some(w) = counts.pairs.get_mut(&key) {
            w.count = w.count.saturating_sub(1);
        }
        if let Some(w) = counts.addresses.get_mut(&key.1) {
            w.count = w.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_blocked_after_max_failures_and_success_clears_it() {
        let l = LoginLimiter::new(2, 100, 60);
        assert!(l.reserve("a", "10.0.0.1").is_ok());
        assert!(l.reserve("a", "10.0.0.1").is_ok());
        assert!(l.reserve("a", "10.0.0.1").is_err(), "the third attempt is refused before any check");
        assert!(l.reserve("a", "10.0.0.2").is_ok(), "another address has its own count");
        l.succeeded("a", "10.0.0.1");
        assert!(l.reserve("a", "10.0.0.1").is_ok());
    }

    #[test]
    fn an_address_is_blocked_across_usernames() {
        let l = LoginLimiter::new(10, 3, 60);
        for user in ["a", "b", "c"] {
            assert!(l.reserve(user, "10.0.0.1").is_ok());
        }
        assert!(l.reserve("d", "10.0.0.1").is_err());
        l.refund("c", "10.0.0.1");
        assert!(l.reserve("d", "10.0.0.1").is_ok(), "a refunded attempt does not count");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let l = LoginLimiter::new(10, 2, 60);
        assert!(l.reserve("a", "2001:db8:1:2::1").is_ok());
        assert!(l.reserve("b", "2001:db8:1:2:ffff::9").is_ok());
        assert!(l.reserve("c", "2001:db8:1:2:abcd::7").is_err());
        assert!(l.reserve("c", "2001:db8:1:3::1").is_ok());
        assert_eq!(address_key("::ffff:10.1.2.3"), "10.1.2.3");
    }

    #[test]
    fn long_usernames_are_cut_to_a_bounded_key() {
        let long = "é".repeat(10_000);
        assert_eq!(username_key(&long).chars().count(), 64);
        assert_eq!(username_key("alice"), "alice");
    }
}
