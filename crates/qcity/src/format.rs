//! How the CLI prints durations, times and tables.

use qcity_platform::clock::now_ms;
use qcity_types::Activity;
use qcity_types::MachineStatus;
use qcity_types::RunnerState;
use qcity_types::RunnerStatus;
use qcity_types::RunnerUsage;
use qcity_types::{Health, ProbeState, ProbeStatus};

/// `950ms`, `12s`, `3m05s`, `2h07m`, `3d04h`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Time from now until `at_ms` (0 if past).
fn until(at_ms: i64) -> String {
    duration((at_ms - now_ms()).max(0) as u64)
}

/// Time from `at_ms` until now.
pub fn ago(at_ms: i64) -> String {
    format!("{} ago", duration((now_ms() - at_ms).max(0) as u64))
}

/// The state column: the name, what the state is waiting for, and what the runner says it
/// is doing.
pub fn status(s: &RunnerState, activity: Option<&Activity>) -> String {
    match (s, activity) {
        (RunnerState::Running { .. }, Some(a)) => format!("running: {}", self::activity(a)),
        _ => state(s),
    }
}

fn activity(a: &Activity) -> String {
    match a {
        Activity::Connecting => "connecting".into(),
        Activity::Listening => "listening for jobs".into(),
        Activity::RunningJob { job } => format!("running job {job}"),
        Activity::JobCompleted { job, result } => format!("job {job} {result}"),
        Activity::Offline { reason } => format!("offline ({reason})"),
        Activity::Updating => "updating itself".into(),
    }
}

/// The health column: the verdict and, when not healthy, the failing probes and why.
pub fn health(r: &RunnerStatus) -> String {
    verdict(r.health, &r.probes)
}

/// The CPU column: percent of one core (`0.4%`, `12%`, `198%`); `-` when not measured.
pub fn cpu(usage: Option<&RunnerUsage>) -> String {
    match usage {
        None => "-".into(),
        Some(u) if u.cpu_percent < 10.0 => format!("{:.1}%", u.cpu_percent),
        Some(u) => format!("{:.0}%", u.cpu_percent),
    }
}

/// The MEM column: resident memory in binary units (`812 KiB`, `34.5 MiB`, `1.2 GiB`); `-`
/// when not measured.
pub fn memory(usage: Option<&RunnerUsage>) -> String {
    let Some(u) = usage else {
        return "-".into();
    };
    let b = u.memory_bytes as f64;
    match u.memory_bytes {
        0..1024 => format!("{} B", u.memory_bytes),
        1024..1_048_576 => format!("{:.0} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}

/// The machine line: its verdict and what fails.
pub fn machine(m: &MachineStatus) -> String {
    match m.health {
        None => "not read yet".into(),
        health => verdict(health, &m.resources),
    }
}

fn verdict(health: Option<Health>, probes: &[ProbeStatus]) -> String {
    let Some(health) = health else {
        return "-".into();
    };
    let name = match health {
        Health::Healthy => "healthy",
        Health::Degraded => "degraded",
        Health::Unhealthy => "unhealthy",
    };
    let failing: Vec<String> = probes
        .iter()
        .filter(|p| p.state == ProbeState::Failing)
        .map(|p| format!("{}: {}", p.name, p.detail))
        .collect();
    if failing.is_empty() {
        name.into()
    } else {
        format!("{name} ({})", failing.join("; "))
    }
}

/// The state column without activity.
pub fn state(s: &RunnerState) -> String {
    match s {
        RunnerState::Backoff {
            attempt, until_ms, ..
        } => format!("backoff (restart #{attempt} in {})", until(*until_ms)),
        RunnerState::CrashLooping {
            restarts, until_ms, ..
        } => format!(
            "crash-looping ({restarts} restarts; retry in {})",
            until(*until_ms)
        ),
        RunnerState::Stopping { kill_at_ms, .. } => {
            format!("stopping (SIGKILL in {})", until(*kill_at_ms))
        }
        RunnerState::NeedsRegistration { reason } => format!("needs-registration ({reason})"),
        RunnerState::Pausing { job: Some(job), .. } => format!("pausing (finishing job {job})"),
        RunnerState::Pausing { job: None, .. } => "pausing (finishing its jobs)".into(),
        other => other.name().to_string(),
    }
}

/// UTC wall time of `ms` since the epoch: `2026-11-23 18:07:10.123Z`.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = qcity_config::cron::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_within(header, rows, terminal_width())
}

/// The columns of the terminal the output goes to; `COLUMNS` when it goes elsewhere and that
/// is set (a script that asks for a width); `None`: no limit (a pipe or a file gets it all).
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        // SAFETY: TIOCGWINSZ fills the winsize struct it is given, nothing else.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0
            && ws.ws_col > 0
        {
            return Some(usize::from(ws.ws_col));
        }
    }
    std::env::var("COLUMNS")
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&w| w > 0)
}

/// Whether stdout takes colour: a terminal, and no `NO_COLOR` (no-color.org).
pub fn colour_on() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` in the engine's colour for it (the dashboard's and the tray's), as SGR codes.
pub fn paint(text: &str, colour: qcity_types::Colour) -> String {
    use qcity_types::Colour;
    let code = match colour {
        Colour::Red => "31",
        Colour::Amber => "33",
        Colour::Green => "32",
        Colour::Grey => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The characters a terminal shows of `text` (escape codes take no column).
fn shown(text: &str) -> usize {
    if !text.contains('\x1b') {
        return text.chars().count();
    }
    String::from_utf8_lossy(&crate::ansi::Strip::default().feed(text.as_bytes()))
        .chars()
        .count()
}

/// Narrowest a column is cut to: its header, and at least this many characters.
const MIN_COLUMN: usize = 6;

/// A table no wider than `width`: when it would be, the last column (free text) is cut
/// first, then the widest of the others, the first (the name) last; each cut cell ends in
/// `…`, never below its header's width.
pub fn table_within(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(shown(cell));
        }
    }
    if let Some(width) = width {
        let floor: Vec<usize> = header
            .iter()
            .map(|h| h.chars().count().max(MIN_COLUMN))
            .collect();
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        // The last column is the free text (a reason, a message): it gives first.
        if let Some(last) = widths.len().checked_sub(1) {
            let over = total(&widths).saturating_sub(width);
            widths[last] = widths[last].saturating_sub(over).max(floor[last]);
        }
        while total(&widths) > width {
            // The widest column that can still give a character; the first (the row's
            // name) only when no other can.
            let can = |i: &usize| widths[*i] > floor[*i];
            let Some(i) = (1..widths.len())
                .filter(can)
                .max_by_key(|&i| widths[i])
                .or_else(|| Some(0).filter(can))
            else {
                break;
            };
            widths[i] -= 1;
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let cell = cut(cell, widths[i]);
            if i == last {
                line.push_str(&cell);
            } else {
                // Padded by hand: `{:<w$}` would count the escape codes as columns.
                line.push_str(&cell);
                line.push_str(&" ".repeat(widths[i].saturating_sub(shown(&cell)) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` in at most `width` characters, `…` marking a cut.
fn cut(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if shown(text) <= width {
        return text.into();
    }
    // A coloured cell that must be cut loses its colour: cutting inside a code would
    // leave the terminal coloured.
    let plain =
        String::from_utf8_lossy(&crate::ansi::Strip::default().feed(text.as_bytes())).into_owned();
    let mut s: String = plain.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_wider_than_the_terminal_cuts_its_free_text_first() {
        let rows = vec![
            vec![
                "build-runner".into(),
                "running".into(),
                "exit 1 (segfault in the linker of a very long build step) 3h ago".into(),
            ],
            vec!["web".into(), "crash-looping".into(), "-".into()],
        ];
        let full = table_within(&["NAME", "STATE", "LAST EXIT"], &rows, None);
        assert!(full.lines().any(|l| l.chars().count() > 60));
        let fit = table_within(&["NAME", "STATE", "LAST EXIT"], &rows, Some(40));
        for line in fit.lines() {
            assert!(line.chars().count() <= 40, "{line:?}");
        }
        // The widest column was cut; the short ones kept whole.
        assert!(
            fit.contains("build-runner") && fit.contains("crash-looping"),
            "{fit}"
        );
        assert!(fit.lines().nth(1).unwrap().ends_with('…'), "{fit}");
        // Too narrow for the headers: cut to them, never below.
        let tiny = table_within(&["NAME", "STATE", "LAST EXIT"], &rows, Some(5));
        assert!(tiny.starts_with("NAME    STATE   LAST EXIT"), "{tiny}");
    }

    #[test]
    fn coloured_cells_line_up_as_plain_ones() {
        let rows = vec![
            vec![paint("running", qcity_types::Colour::Green), "1".into()],
            vec!["crash-looping".into(), "2".into()],
        ];
        let t = table_within(&["STATE", "N"], &rows, None);
        let plain =
            String::from_utf8_lossy(&crate::ansi::Strip::default().feed(t.as_bytes())).into_owned();
        assert_eq!(
            plain,
            "STATE          N\nrunning        1\ncrash-looping  2\n"
        );
        assert!(t.contains("\x1b[32mrunning\x1b[0m"), "{t:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(950), "950ms");
        assert_eq!(duration(12_400), "12s");
        assert_eq!(duration(185_000), "3m05s");
        assert_eq!(duration(7_620_000), "2h07m");
        assert_eq!(duration(273_600_000), "3d04h");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000Z");
        assert_eq!(utc(1_795_457_209_591), "2026-11-23 18:06:49.591Z");
    }

    #[test]
    fn github_runners_show_what_they_do() {
        let running = RunnerState::Running {
            pid: 1,
            pgid: 1,
            since_ms: 0,
        };
        let job = Activity::RunningJob {
            job: "build".into(),
        };
        assert_eq!(status(&running, Some(&job)), "running: running job build");
        assert_eq!(status(&running, None), "running");
        let needs = RunnerState::NeedsRegistration {
            reason: "deleted".into(),
        };
        assert_eq!(status(&needs, Some(&job)), "needs-registration (deleted)");
    }

    #[test]
    fn usage_reads_as_percent_and_binary_units() {
        let u = |cpu_percent, memory_bytes| RunnerUsage {
            cpu_percent,
            memory_bytes,
            processes: 1,
        };
        assert_eq!((cpu(None), memory(None)), ("-".into(), "-".into()));
        assert_eq!(cpu(Some(&u(0.44, 0))), "0.4%");
        assert_eq!(cpu(Some(&u(12.3, 0))), "12%");
        assert_eq!(cpu(Some(&u(198.0, 0))), "198%");
        assert_eq!(memory(Some(&u(0.0, 512))), "512 B");
        assert_eq!(memory(Some(&u(0.0, 812 * 1024))), "812 KiB");
        assert_eq!(memory(Some(&u(0.0, 36_175_872))), "34.5 MiB");
        assert_eq!(memory(Some(&u(0.0, 1_288_490_189))), "1.2 GiB");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }
}
