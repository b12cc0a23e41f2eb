//! Five-field cron expressions (`minute hour day-of-month month day-of-week`), in UTC.
//!
//! Each field is `*`, a number, a range `a-b`, a list `a,b`, or any of those with a step
//! `/n`. Day of week 0–7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are
//! restricted, a day matches either.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_any: bool,
    weekdays_any: bool,
}

fn field(text: &str, min: u32, max: u32, what: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("{what}: step `{s}` is not a number"))?;
                if step == 0 {
                    return Err(format!("{what}: step 0"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a, what)?, num(b, what)?)
        } else {
            let v = num(range, what)?;
            (v, if step > 1 { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{what}: `{part}` is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn num(s: &str, what: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("{what}: `{s}` is not a number"))
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let f: Vec<&str> = expr.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "`{expr}`: expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                f.len()
            ));
        }
        let mut weekdays = field(f[4], 0, 7, "day of week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            minutes: field(f[0], 0, 59, "minute")?,
            hours: field(f[1], 0, 23, "hour")?,
            days: field(f[2], 1, 31, "day of month")?,
            months: field(f[3], 1, 12, "month")?,
            weekdays,
            days_any: f[2] == "*",
            weekdays_any: f[4] == "*",
        })
    }

    /// The first matching minute strictly after `after_ms` (ms since the epoch, UTC).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let mut minute = after_ms.div_euclid(60_000) + 1;
        // Four years of minutes covers every combination (29 February included).
        for _ in 0..(4 * 366 * 24 * 60) {
            let (mo, d, wd, h, mi) = civil(minute);
            let day_ok = match (self.days_any, self.weekdays_any) {
                (true, true) => true,
                (false, true) => self.days & (1 << d) != 0,
                (true, false) => self.weekdays & (1 << wd) != 0,
                (false, false) => self.days & (1 << d) != 0 || self.weekdays & (1 << wd) != 0,
            };
            if self.months & (1 << mo) != 0 && day_ok {
                if self.hours & (1 << h) != 0 && self.minutes & (1 << mi) != 0 {
                    return Some(minute * 60_000);
                }
                minute += 1;
            } else {
                // Skip to the next day.
                minute = (minute.div_euclid(1440) + 1) * 1440;
            }
        }
        None
    }
}

/// (month 1-12, day 1-31, weekday 0-6 with 0 = Sunday, hour, minute) of a minute since the epoch.
fn civil(minute: i64) -> (u32, u32, u32, u32, u32) {
    let days = minute.div_euclid(1440);
    let rem = minute.rem_euclid(1440);
    let (_, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
    (m, d, weekday, (rem / 60) as u32, (rem % 60) as u32)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm), so no date crate is needed.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23 18:07:10 UTC, a Monday.
    const NOW: i64 = 1_795_457_230_000;

    #[test]
    fn next_fire_times() {
        let at = |e: &str| Cron::parse(e).unwrap().next_after(NOW).unwrap();
        assert_eq!(at("* * * * *"), 1_795_457_280_000); // 18:08
        assert_eq!(at("*/15 * * * *"), 1_795_457_700_000); // 18:15
        assert_eq!(at("0 3 * * *"), 1_795_489_200_000); // 24 Nov 03:00
        assert_eq!(at("30 9 * * 0"), 1_795_944_600_000); // Sunday 29 Nov 09:30
        assert_eq!(at("0 0 1 1 *"), 1_798_761_600_000); // 1 Jan 2027
    }

    #[test]
    fn bad_expressions_say_why() {
        for (e, why) in [
            ("* * * *", "expected 5 fields"),
            ("61 * * * *", "minute: `61` is outside 0-59"),
            ("* * * * mon", "day of week: `mon` is not a number"),
            ("*/0 * * * *", "step 0"),
        ] {
            let err = Cron::parse(e).unwrap_err();
            assert!(err.contains(why), "{e}: {err}");
        }
    }
}
