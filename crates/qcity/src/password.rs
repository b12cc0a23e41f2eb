//! Reading a new password: twice from the terminal with echo off, or one line from a pipe
//! (scripts and tests). It is never printed or logged.

use std::io::{BufRead, IsTerminal, Write};

use crate::exit::{CliError, CliResult};

pub fn read_new(prompt: &str) -> CliResult<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = read_hidden(&format!("{prompt}: "))?;
        let again = read_hidden("again: ")?;
        if first != again {
            return Err(CliError::error("the two passwords differ; nothing changed"));
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::error(format!("cannot read from the terminal: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < 8 {
        return Err(CliError::error(
            "the password needs at least 8 characters; nothing changed",
        ));
    }
    Ok(password)
}

/// One line from the terminal with echo off; echo comes back even on error.
pub(crate) fn read_hidden(prompt: &str) -> CliResult<String> {
    let fd = libc::STDIN_FILENO;
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr fills `term` for a valid descriptor; checked below.
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        return Err(CliError::error("cannot read the terminal's settings"));
    }
    let saved = term;
    term.c_lflag &= !libc::ECHO;
    // SAFETY: `term` came from tcgetattr on the same descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    eprintln!();
    read.map_err(|e| CliError::error(format!("cannot read from the terminal: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
