//! How long a rate-limited answer asks us to wait, as GitHub's REST docs say
//! (docs.github.com, "Rate limits for the REST API"): `retry-after` seconds when present;
//! else, with `x-ratelimit-remaining: 0`, until `x-ratelimit-reset`; else, for a secondary
//! limit named only in the message, at least a minute, doubled on each try.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The floor of a secondary-limit wait that names no time.
const SECONDARY_FLOOR: Duration = Duration::from_secs(60);
/// The longest single wait of the doubling: past it the caller's budget decides.
const SECONDARY_CEILING: Duration = Duration::from_secs(15 * 60);

/// How long to wait before sending again, or `None` when the answer is not a rate limit
/// (a 403 without any of its signs is a permission refused, not to be retried).
/// `tries` counts the rate-limited answers this request already had; `now` is Unix seconds.
pub(crate) fn wait(
    status: u16,
    headers: &HeaderMap,
    message: &str,
    tries: u32,
    now: u64,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        // A reset in the past (clocks apart) still waits a second rather than hammering.
        let reset = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok());
        return Some(Duration::from_secs(
            reset.map_or(SECONDARY_FLOOR.as_secs(), |r| r.saturating_sub(now).max(1)),
        ));
    }
    // 429 is a rate limit whatever it says; a 403 only when its message says so.
    if status == 429 || message.to_ascii_lowercase().contains("rate limit") {
        let doubled = SECONDARY_FLOOR.saturating_mul(1u32 << tries.min(8));
        return Some(doubled.min(SECONDARY_CEILING));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_is_waited_as_given() {
        let h = headers(&[("retry-after", "7"), ("x-ratelimit-remaining", "0")]);
        assert_eq!(wait(429, &h, "", 0, 0), Some(Duration::from_secs(7)));
        assert_eq!(wait(403, &h, "", 3, 0), Some(Duration::from_secs(7)));
    }

    #[test]
    fn an_exhausted_primary_limit_waits_until_the_reset() {
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000"),
        ]);
        assert_eq!(wait(403, &h, "", 0, 900), Some(Duration::from_secs(100)));
        // A reset already past: a second, not zero.
        assert_eq!(wait(403, &h, "", 0, 2000), Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_secondary_limit_without_headers_waits_a_minute_doubling() {
        let h = headers(&[("x-ratelimit-remaining", "4000")]);
        let msg = "You have exceeded a secondary rate limit. Please wait a few minutes.";
        assert_eq!(wait(403, &h, msg, 0, 0), Some(Duration::from_secs(60)));
        assert_eq!(wait(403, &h, msg, 1, 0), Some(Duration::from_secs(120)));
        assert_eq!(wait(429, &h, "", 2, 0), Some(Duration::from_secs(240)));
        assert_eq!(wait(429, &h, "", 30, 0), Some(SECONDARY_CEILING));
    }

    #[test]
    fn a_403_without_rate_limit_signs_is_a_permission_not_a_wait() {
        let h = headers(&[("x-ratelimit-remaining", "4999")]);
        assert_eq!(
            wait(403, &h, "Resource not accessible by integration", 0, 0),
            None
        );
        assert_eq!(wait(404, &headers(&[("retry-after", "5")]), "", 0, 0), None);
    }
}
