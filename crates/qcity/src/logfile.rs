//! A runner's last lines read from its log files on disk (`DATA/logs/NAME.log`, rotated to
//! `NAME.log.1`…), for `qcity logs` when no daemon is running to ask.

use std::path::Path;

use crate::exit::{CliError, CliResult, Code};

/// The last `lines` lines of `name`'s log, the rotated file before the current one when the
/// current one has fewer.
pub fn tail(logs: &Path, name: &str, lines: usize) -> CliResult<String> {
    // The name becomes a file name: one that could leave the logs dir is no runner's.
    if name.is_empty() || name.contains('/') || name.starts_with('.') || name.contains('\0') {
        return Err(CliError::new(
            Code::UnknownRunner,
            format!("no runner `{name}`"),
        ));
    }
    use qcity_engine::supervisor::output::{log_file, rotated};
    let current = log_file(logs, name);
    let previous = rotated(&current, 1);
    if !current.exists() && !previous.exists() {
        return Err(CliError::new(
            Code::UnknownRunner,
            format!(
                "no log of a runner `{name}` in {} (and the qcity daemon is not running to ask)",
                logs.display()
            ),
        ));
    }
    let read = |p: &Path| {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(String::new()),
                _ => Err(CliError::error(format!("cannot read {}: {e}", p.display()))),
            })
    };
    let mut text = read(&current)?;
    if text.lines().count() < lines {
        text = read(&previous)? + &text;
    }
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    let mut out = all[from..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}
