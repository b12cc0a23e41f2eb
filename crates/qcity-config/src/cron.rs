//! Five-field cron expressions (`minute hour day-of-month month day-of-week`) in an IANA time
//! zone (UTC unless the schedule names one), parsed and evaluated by the `croner` crate.
//!
//! Each field is `*`, a number, a range `a-b`, a list `a,b`, or any of those with a step
//! `/n` (`5/15` means `5-59/15`). Months may be named (`JAN`–`DEC`), days of the week too
//! (`SUN`–`SAT`; 0–7 with 0 and 7 Sunday), in any case. The shorthands `@yearly`
//! (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their
//! usual five fields. croner's extensions are accepted too: `L` (last day of the month, or last
//! weekday `5L`), `W` (nearest weekday `15W`), `#` (nth weekday `1#2`).
//!
//! The day fields combine as in Vixie cron: when both are restricted, a day matches either;
//! when either begins with `*` (`*`, `*/2`), a day must match both. croner alone treats only a
//! bare `*` as unrestricted, so this wrapper sets its `dom_and_dow` option for the second case.
//!
//! Times are wall-clock times in the zone. A time that a daylight-saving jump skips runs at the
//! first instant after the jump (02:30 on a spring-forward night runs at 03:00); a fixed time
//! that a jump back repeats runs once, at its first occurrence.

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed expression with its time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    inner: croner::Cron,
    tz: Tz,
}

/// The five fields, in order: name, allowed values, and the words (upper case) allowed in it
/// (croner's `L` and `W` in the day of month, `L` in the day of week).
const FIELDS: [(&str, &str, &[&str]); 5] = [
    ("minute", "0-59", &[]),
    ("hour", "0-23", &[]),
    ("day of month", "1-31", &["L", "W", "LW"]),
    (
        "month",
        "1-12 or JAN-DEC",
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day of week",
        "0-7 or SUN-SAT, 0 and 7 being Sunday",
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "L"],
    ),
];

const SHORTHANDS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// `HH:MM` on a 24-hour clock, as minutes since midnight.
pub fn clock_time(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`), or an error naming it.
pub fn time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        let near = chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| (strsim::jaro_winkler(name, tz.name()), tz.name()))
            .filter(|(score, _)| *score > 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match near {
            Some((_, guess)) => format!(
                "unknown time zone `{name}` (did you mean `{guess}`?): \
                 expected an IANA name such as `Europe/Berlin` or `UTC`"
            ),
            None => format!(
                "unknown time zone `{name}`: expected an IANA name such as `Europe/Berlin` or `UTC`"
            ),
        }
    })
}

/// Letters and misplaced steps croner would read too leniently (it replaces names anywhere
/// in the expression, and takes a bare `/5` for `*/5`).
fn check_field(index: usize, text: &str) -> Result<(), String> {
    let (what, _, names) = FIELDS[index];
    let upper = text.to_ascii_uppercase();
    for word in upper
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
    {
        if !names.contains(&word) {
            return Err(match index {
                3 => format!("month `{text}`: `{word}` is not a month name (JAN-DEC)"),
                4 => format!("day of week `{text}`: `{word}` is not a day name (SUN-SAT)"),
                _ => format!("{what} `{text}`: `{word}` is not a number"),
            });
        }
    }
    let body = if index == 4 {
        text.strip_prefix('+').unwrap_or(text)
    } else {
        text
    };
    if let Some(item) = body.split(',').find(|i| i.starts_with('/')) {
        return Err(format!(
            "{what} `{text}`: the step `{item}` has no start (write `*{item}`)"
        ));
    }
    Ok(())
}

fn parser(dom_and_dow: bool) -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // `5/15` as `5-59/15`, as the earlier parser and cronie read it.
        .sloppy_ranges(true)
        .dom_and_dow(dom_and_dow)
        .build()
}

/// croner's message without its `Component error: ` style prefix or its final stop, starting
/// in lower case.
fn croner_message(e: croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    let m = match e {
        E::InvalidPattern(m) | E::IllegalCharacters(m) | E::ComponentError(m) => m,
        other => other.to_string(),
    };
    let m = m.strip_suffix('.').unwrap_or(&m);
    let mut chars = m.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Cron {
    /// Parses `expr` for the IANA time zone `tz` (UTC when `None`).
    pub fn parse(expr: &str, tz: Option<&str>) -> Result<Cron, String> {
        let tz = match tz {
            Some(name) => time_zone(name)?,
            None => Tz::UTC,
        };
        let trimmed = expr.trim();
        let fields = if trimmed.starts_with('@') {
            match SHORTHANDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(trimmed))
            {
                Some((_, fields)) => *fields,
                None => {
                    return Err(format!(
                        "`{trimmed}` is not a known shorthand: use @yearly, @annually, \
                         @monthly, @weekly, @daily, @midnight or @hourly"
                    ));
                }
            }
        } else {
            trimmed
        };
        let f: Vec<&str> = fields.split_whitespace().collect();
        if f.len() != 5 {
            let seconds = if f.len() == 6 {
                " (a seconds field is not supported)"
            } else {
                ""
            };
            return Err(format!(
                "`{expr}`: expected 5 fields (minute hour day-of-month month day-of-week), \
                 found {}{seconds}",
                f.len()
            ));
        }
        for (i, text) in f.iter().enumerate() {
            check_field(i, text)?;
            // Parsed alone, with `*` elsewhere, so the error can name its field.
            let mut alone = ["*"; 5];
            alone[i] = text;
            if let Err(e) = parser(false).parse(&alone.join(" ")) {
                let (what, values, _) = FIELDS[i];
                return Err(format!(
                    "{what} `{text}`: {} (allowed: {values})",
                    croner_message(e)
                ));
            }
        }
        // Vixie cron: a day field beginning with `*` leaves the other one to decide alone, so
        // both must match; croner does so for a bare `*` only.
        let starred = |s: &str| s.starts_with('*') || s.starts_with('?');
        let dom_and_dow = starred(f[2]) || starred(f[4]);
        let inner = parser(dom_and_dow)
            .parse(&f.join(" "))
            .map_err(|e| format!("`{expr}`: {}", croner_message(e)))?;
        Ok(Cron { inner, tz })
    }

    /// The first matching minute strictly after `after_ms` (ms since the epoch), in ms since
    /// the epoch; `None` if none comes (`0 0 30 2 *`).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = Utc
            .timestamp_millis_opt(after_ms)
            .single()?
            .with_timezone(&self.tz);
        let next = self.inner.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp_millis())
    }
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
        let at = |e: &str| Cron::parse(e, None).unwrap().next_after(NOW).unwrap();
        assert_eq!(at("* * * * *"), 1_795_457_280_000); // 18:08
        assert_eq!(at("*/15 * * * *"), 1_795_457_700_000); // 18:15
        assert_eq!(at("0 3 * * *"), 1_795_489_200_000); // 24 Nov 03:00
        assert_eq!(at("30 9 * * 0"), 1_795_944_600_000); // Sunday 29 Nov 09:30
        assert_eq!(at("0 0 1 1 *"), 1_798_761_600_000); // 1 Jan 2027
    }

    #[test]
    fn fires_strictly_after() {
        let every = Cron::parse("* * * * *", None).unwrap();
        // 18:08:00.000 exactly, and one millisecond before it.
        assert_eq!(every.next_after(1_795_457_280_000), Some(1_795_457_340_000));
        assert_eq!(every.next_after(1_795_457_279_999), Some(1_795_457_280_000));
    }

    // Expected times below were worked out from the calendar (23 Nov 2026 is a Monday,
    // 1 Dec a Tuesday, 7 Dec a Monday, 1 Jan 2027 a Friday) and checked with Python's
    // `datetime`/`zoneinfo`, not with croner.

    #[test]
    fn a_day_field_beginning_with_a_star_is_and_ed_with_the_other() {
        let at = |e: &str| Cron::parse(e, None).unwrap().next_after(NOW).unwrap();
        // Odd days of the month that are Mondays: 23 Nov 12:00 has passed, 30 Nov is even,
        // so Monday 7 Dec. (Or-ed, it would be Wednesday 25 Nov.)
        assert_eq!(at("0 12 */2 * 1"), 1_796_644_800_000);
        // The 1st of a month that is a Sunday, Tuesday, Thursday or Saturday: Tuesday 1 Dec.
        // (Or-ed, it would be Tuesday 24 Nov.)
        assert_eq!(at("0 12 1 * */2"), 1_796_126_400_000);
        // A bare `*` leaves the other field alone to decide: Friday 27 Nov.
        assert_eq!(at("0 12 * * 5"), 1_795_780_800_000);
    }

    #[test]
    fn two_restricted_day_fields_are_or_ed() {
        let at = |e: &str| Cron::parse(e, None).unwrap().next_after(NOW).unwrap();
        // The 25th (a Wednesday) comes before the next Friday.
        assert_eq!(at("0 12 25 * 5"), 1_795_608_000_000);
        // The next Friday (27 Nov) comes before the 28th.
        assert_eq!(at("0 12 28 * 5"), 1_795_780_800_000);
    }

    #[test]
    fn month_and_day_names() {
        let at = |e: &str| Cron::parse(e, None).unwrap().next_after(NOW).unwrap();
        // Weekdays in January: Friday 1 Jan 2027 08:30.
        assert_eq!(at("30 8 * JAN MON-FRI"), 1_798_792_200_000);
        assert_eq!(at("30 8 * jan mon-fri"), 1_798_792_200_000);
        // Weekends: Saturday 28 Nov 09:00; `FRI-SUN` wraps through Sunday (7).
        assert_eq!(at("0 9 * * SAT,SUN"), 1_795_856_400_000);
        assert_eq!(at("0 9 * * FRI-SUN"), 1_795_770_000_000);
        assert_eq!(at("0 0 1 Nov-Dec *"), 1_796_083_200_000); // 1 Dec
    }

    #[test]
    fn shorthands() {
        let at = |e: &str| Cron::parse(e, None).unwrap().next_after(NOW).unwrap();
        assert_eq!(at("@hourly"), 1_795_460_400_000); // 19:00
        assert_eq!(at("@daily"), 1_795_478_400_000); // 24 Nov 00:00
        assert_eq!(at("@midnight"), 1_795_478_400_000);
        assert_eq!(at("@weekly"), 1_795_910_400_000); // Sunday 29 Nov 00:00
        assert_eq!(at("@monthly"), 1_796_083_200_000); // 1 Dec 00:00
        assert_eq!(at("@yearly"), 1_798_761_600_000); // 1 Jan 2027 00:00
        assert_eq!(at(" @Annually "), 1_798_761_600_000);
    }

    #[test]
    fn time_zones() {
        let berlin = Cron::parse("0 3 * * *", Some("Europe/Berlin")).unwrap();
        // Winter (CET, UTC+1): 03:00 is 02:00 UTC, 24 Nov 2026.
        assert_eq!(berlin.next_after(NOW), Some(1_795_485_600_000));
        // Summer (CEST, UTC+2): from 1 Jul 2026 00:00 UTC, 03:00 is 01:00 UTC that day.
        assert_eq!(
            berlin.next_after(1_782_864_000_000),
            Some(1_782_867_600_000)
        );
        // UTC by name is UTC.
        let utc = Cron::parse("0 3 * * *", Some("UTC")).unwrap();
        assert_eq!(utc.next_after(NOW), Some(1_795_489_200_000));
    }

    #[test]
    fn daylight_saving_jumps() {
        let cron = Cron::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        // Sunday 29 Mar 2026 has no 02:30 in Berlin (02:00 CET jumps to 03:00 CEST): the
        // run comes at 03:00 CEST, 01:00 UTC, then Monday 02:30 CEST is 00:30 UTC.
        let gap = cron.next_after(1_774_699_200_000).unwrap(); // 28 Mar 12:00 UTC
        assert_eq!(gap, 1_774_746_000_000);
        assert_eq!(cron.next_after(gap), Some(1_774_830_600_000));
        // Sunday 25 Oct 2026 has 02:30 twice (03:00 CEST goes back to 02:00 CET): it runs
        // once, at the first (00:30 UTC), then Monday 02:30 CET is 01:30 UTC.
        let fold = cron.next_after(1_792_843_200_000).unwrap(); // 24 Oct 12:00 UTC
        assert_eq!(fold, 1_792_888_200_000);
        assert_eq!(cron.next_after(fold), Some(1_792_978_200_000));
    }

    #[test]
    fn impossible_dates_never_fire() {
        assert_eq!(
            Cron::parse("0 0 30 2 *", None).unwrap().next_after(NOW),
            None
        );
    }

    #[test]
    fn bad_time_zones_are_named() {
        let err = Cron::parse("0 3 * * *", Some("Europe/Berln")).unwrap_err();
        assert!(err.contains("unknown time zone `Europe/Berln`"), "{err}");
        assert!(err.contains("did you mean `Europe/Berlin`?"), "{err}");
        let err = time_zone("Mars/Olympus").unwrap_err();
        assert!(err.contains("unknown time zone `Mars/Olympus`"), "{err}");
    }

    #[test]
    fn bad_expressions_say_why() {
        for (e, why) in [
            ("* * * *", "expected 5 fields"),
            ("0 * * * * *", "found 6 (a seconds field is not supported)"),
            (
                "61 * * * *",
                "minute `61`: number out of bounds (allowed: 0-59)",
            ),
            (
                "* 25 * * *",
                "hour `25`: number out of bounds (allowed: 0-23)",
            ),
            (
                "0 0 0 * *",
                "day of month `0`: number out of bounds (allowed: 1-31)",
            ),
            ("* * * * mun", "day of week `mun`: `MUN` is not a day name"),
            ("* * * MON *", "month `MON`: `MON` is not a month name"),
            ("*/0 * * * *", "minute `*/0`: step cannot be zero"),
            ("/5 * * * *", "the step `/5` has no start"),
            ("0 0 1 DEC-FEB *", "month `DEC-FEB`: range out of bounds"), // no wrapping, as in Vixie
            ("@reboot", "`@reboot` is not a known shorthand"),
        ] {
            let err = Cron::parse(e, None).unwrap_err();
            assert!(err.contains(why), "{e}: {err}");
        }
    }
}
