//! Restart timing: exponential backoff with jitter, a cap and a reset after stable uptime,
//! and crash-loop detection. Pure and clock-free: callers pass the times in.
//!
//! Defaults (see `qcity_config::RestartSpec`): 100 ms, ×2, cap 30 s, ±20 % jitter, reset after
//! 30 s of uptime; crash loop at 5 restarts within 60 s, cool-down 5 min. Compared with pm2's
//! optional `exp_backoff_restart_delay` (×1.5, cap 15 s, reset after 30 s): the first retry is
//! as quick (a one-off crash costs 100 ms), ×2 reaches the cap in 9 steps instead of 12 so a
//! runner that cannot start (expired token, no network) stops hammering sooner, and the 30 s
//! cap bounds the wait once the cause is fixed. Jitter keeps runners that died together (a
//! network drop) from restarting in lockstep.

use std::collections::VecDeque;

use qcity_config::{CrashLoopSpec, RestartSpec};

/// Backoff state of one runner.
#[derive(Debug, Clone)]
pub struct Backoff {
    spec: RestartSpec,
    /// Consecutive restarts since the last reset.
    attempt: u32,
    /// Times (ms) of recent restarts, for crash-loop detection.
    recent: VecDeque<i64>,
}

/// What to do after an exit that the policy restarts.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Restart (attempt number) after `delay_ms`.
    Restart { attempt: u32, delay_ms: u64 },
    /// Crash loop: `restarts` within the window; try again after the cool-down.
    CrashLoop {
        restarts: u32,
        window_ms: u64,
        cooldown_ms: u64,
    },
}

impl Backoff {
    pub fn new(spec: RestartSpec) -> Self {
        Self {
            spec,
            attempt: 0,
            recent: VecDeque::new(),
        }
    }

    /// Decides the next step after an exit at `now_ms` following `uptime_ms` of running.
    /// `unit` is a random number in [0, 1) for the jitter.
    pub fn on_exit(&mut self, now_ms: i64, uptime_ms: u64, unit: f64) -> Next {
        if uptime_ms >= self.spec.reset_after_ms {
            self.attempt = 0;
        }
        if let Some(cl) = &self.spec.crash_loop {
            self.recent.push_back(now_ms);
            let window_start = now_ms - cl.window_ms as i64;
            while self.recent.front().is_some_and(|&t| t <= window_start) {
                self.recent.pop_front();
            }
            if self.recent.len() as u32 > cl.max_restarts {
                let CrashLoopSpec {
                    window_ms,
                    cooldown_ms,
                    ..
                } = *cl;
                let restarts = self.recent.len() as u32 - 1;
                self.recent.clear();
                self.attempt = 0;
                return Next::CrashLoop {
                    restarts,
                    window_ms,
                    cooldown_ms,
                };
            }
        }
        self.attempt += 1;
        Next::Restart {
            attempt: self.attempt,
            delay_ms: self.delay(self.attempt, unit),
        }
    }

    /// Forgets history (a manual start or restart is a fresh beginning).
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.recent.clear();
    }

    fn delay(&self, attempt: u32, unit: f64) -> u64 {
        let base = self.spec.delay_ms as f64 * self.spec.factor.powi(attempt as i32 - 1);
        let capped = base.min(self.spec.max_delay_ms as f64);
        let jitter = self.spec.jitter_percent as f64 / 100.0;
        let factor = 1.0 + jitter * (2.0 * unit - 1.0);
        (capped * factor)
            .round()
            .clamp(0.0, self.spec.max_delay_ms as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RestartSpec {
        RestartSpec {
            jitter_percent: 0,
            crash_loop: None,
            ..RestartSpec::default()
        }
    }

    fn delays(b: &mut Backoff, n: usize, uptime: u64) -> Vec<u64> {
        (0..n)
            .map(|i| match b.on_exit(i as i64 * 100_000, uptime, 0.5) {
                Next::Restart { delay_ms, .. } => delay_ms,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn grows_by_factor_up_to_the_cap() {
        let mut b = Backoff::new(spec());
        assert_eq!(
            delays(&mut b, 11, 10),
            vec![
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000
            ]
        );
    }

    #[test]
    fn stable_uptime_resets_the_backoff() {
        let mut b = Backoff::new(spec());
        delays(&mut b, 4, 10);
        assert_eq!(delays(&mut b, 1, 30_000), vec![100]);
    }

    #[test]
    fn jitter_stays_within_its_percent() {
        let mut s = spec();
        s.jitter_percent = 20;
        let b = Backoff::new(s);
        assert_eq!(b.delay(3, 0.0), 320);
        assert_eq!(b.delay(3, 0.999_999), 480);
    }

    #[test]
    fn zero_delay_means_immediate() {
        let s = RestartSpec {
            delay_ms: 0,
            max_delay_ms: 0,
            ..spec()
        };
        let mut b = Backoff::new(s);
        assert_eq!(delays(&mut b, 3, 0), vec![0, 0, 0]);
    }

    #[test]
    fn crash_loop_after_n_restarts_in_window() {
        let s = RestartSpec {
            crash_loop: Some(CrashLoopSpec {
                max_restarts: 3,
                window_ms: 10_000,
                cooldown_ms: 500,
            }),
            ..spec()
        };
        let mut b = Backoff::new(s);
        for t in 0..3 {
            assert!(matches!(b.on_exit(t * 1000, 10, 0.5), Next::Restart { .. }));
        }
        assert_eq!(
            b.on_exit(3000, 10, 0.5),
            Next::CrashLoop {
                restarts: 3,
                window_ms: 10_000,
                cooldown_ms: 500
            }
        );
        // After the cool-down the count starts over.
        assert_eq!(
            b.on_exit(60_000, 10, 0.5),
            Next::Restart {
                attempt: 1,
                delay_ms: 100
            }
        );
    }

    #[test]
    fn restarts_spread_beyond_the_window_are_no_loop() {
        let s = RestartSpec {
            crash_loop: Some(CrashLoopSpec {
                max_restarts: 2,
                window_ms: 1_000,
                cooldown_ms: 500,
            }),
            ..spec()
        };
        let mut b = Backoff::new(s);
        for t in 0..10 {
            assert!(matches!(
                b.on_exit(t * 2_000, 10, 0.5),
                Next::Restart { .. }
            ));
        }
    }
}
