//! `qcity secret set|rm NAME`: the secrets the config names as `keyring://NAME`, stored in the
//! OS keyring by `qcity-secrets`. No daemon is needed: the keyring belongs to the user, and
//! the daemon reads a secret when it loads the config (`qcity reload` after a change).
//!
//! The value comes from a pipe or a prompt without echo, never from an argument (which
//! `ps` and the shell's history would show), and is never printed.

use std::io::{IsTerminal, Read};

use clap::Subcommand;

use crate::exit::{CliError, CliResult};

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store the secret NAME in the OS keyring (service `qcity`, account NAME) for the
    /// config's `keyring://NAME`, replacing the one there. The value is read from standard
    /// input when it is not a terminal (`printf %s "$TOKEN" | qcity secret set NAME`; one
    /// trailing newline is dropped), else asked for without echo.
    #[command(after_help = crate::EXIT_CODES)]
    Set {
        /// The secret's name, as in the config's `keyring://NAME`
        name: String,
    },
    /// Remove the secret NAME from the OS keyring (no error when it is not there).
    #[command(after_help = crate::EXIT_CODES)]
    Rm {
        /// The secret's name, as in the config's `keyring://NAME`
        name: String,
    },
}

pub fn run(command: &SecretCommand) -> CliResult {
    match command {
        SecretCommand::Set { name } => set(name),
        SecretCommand::Rm { name } => rm(name),
    }
}

fn set(name: &str) -> CliResult {
    // Checked before the prompt, so a typo is not found after the value was typed.
    if !qcity_config::secret_ref::valid_name(name) {
        return Err(failed(qcity_secrets::SecretError::InvalidName {
            name: name.into(),
        }));
    }
    let value = read_value(name)?;
    qcity_secrets::set(name, &value).map_err(failed)?;
    println!("{name}: stored in the OS keyring (keyring://{name})");
    Ok(())
}

fn rm(name: &str) -> CliResult {
    if qcity_secrets::remove(name).map_err(failed)? {
        println!("{name}: removed from the OS keyring");
    } else {
        println!("{name}: not in the OS keyring; nothing removed");
    }
    Ok(())
}

fn failed(e: qcity_secrets::SecretError) -> CliError {
    CliError::error(e.to_string())
}

/// The whole of a pipe (a PEM key has several lines) less one trailing newline, which
/// `echo` and here-documents add; or one line typed without echo.
fn read_value(name: &str) -> CliResult<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return crate::password::read_hidden(&format!("Value for {name}: "));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::error(format!("cannot read the value from standard input: {e}")))?;
    let mut value = String::from_utf8(bytes)
        .map_err(|_| CliError::error("the value on standard input is not UTF-8 text"))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}
