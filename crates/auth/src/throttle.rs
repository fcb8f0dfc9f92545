//! Throttling of failed logins per source address.
//!
//! Each address may fail a fixed number of times within a window; after that every
//! attempt from it is refused, without checking its credentials, until the window that
//! started with its first failure ends. Successes do not reset the count, so an attacker
//! cannot interleave one valid login to keep guessing. Memory stays bounded: when the
//! table grows large, expired windows are dropped first and, failing that, the table is
//! cleared rather than allowed to grow without limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked before old entries are swept.
const MAX_TRACKED: usize = 65_536;

struct Window {
    started: Instant,
    failures: u32,
}

/// Counts failures per address.
pub struct Throttle {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(retry_after)` while `source` is blocked.
    pub fn blocked(&self, source: IpAddr) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.get(&source)?;
        let elapsed = window.started.elapsed();
        if window.failures >= self.limit && elapsed < self.window {
            Some(self.window - elapsed)
        } else {
            None
        }
    }

    /// Records a failed attempt from `source`.
    pub fn record_failure(&self, source: IpAddr) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED {
            let span = self.window;
            windows.retain(|_, w| w.started.elapsed() < span);
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let now = Instant::now();
        let window = windows.entry(source).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= self.window {
            window.started = now;
            window.failures = 0;
        }
        window.failures = window.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_only_that_address() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let attacker: IpAddr = "10.0.0.1".parse().unwrap();
        let bystander: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            throttle.record_failure(attacker);
            assert!(throttle.blocked(attacker).is_none());
        }
        throttle.record_failure(attacker);
        let retry = throttle
            .blocked(attacker)
            .expect("blocked after three failures");
        assert!(retry <= Duration::from_secs(60));
        assert!(throttle.blocked(bystander).is_none());
    }

    #[test]
    fn a_new_window_starts_after_the_old_one_ends() {
        let throttle = Throttle::new(1, Duration::from_millis(30));
        let source: IpAddr = "::1".parse().unwrap();
        throttle.record_failure(source);
        assert!(throttle.blocked(source).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(throttle.blocked(source).is_none());
    }
}
