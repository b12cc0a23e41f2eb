//! `qcity notify list|test`: the chat, mail and webhook channels through the daemon, which
//! holds their secrets and their outbox.

use clap::Subcommand;
use qcity_client::Client;
use qcity_engine::datadir::DataDir;

use crate::exit::CliResult;
use crate::format;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// The channels with their last delivery and what waits in their outbox.
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Sends a test message through one channel (queued like any other, with its retries).
    Test {
        /// The channel's name from the device config
        name: String,
    },
}

pub fn run(data: &DataDir, command: &NotifyCommand) -> CliResult {
    match command {
        NotifyCommand::List { json } => list(data, *json),
        NotifyCommand::Test { name } => test(data, name),
    }
}

fn list(data: &DataDir, json: bool) -> CliResult {
    let channels: Vec<qcity_types::NotifyChannel> =
        Client::connect(data)?.get("/notify/channels")?;
    if json {
        return crate::commands::print_json(&channels);
    }
    if channels.is_empty() {
        println!("no channels: add them under notifications.channels in qcity-device-config.json");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = channels
        .into_iter()
        .map(|c| {
            let last = match (c.last_state, c.last_ms) {
                (Some(state), Some(at)) => format!("{state} {}", format::ago(at)),
                _ => "-".into(),
            };
            let problem = c.problem.or(c.last_error).unwrap_or_default();
            vec![c.name, c.service, c.queued.to_string(), last, problem]
        })
        .collect();
    crate::commands::emit(&format::table(
        &["NAME", "SERVICE", "QUEUED", "LAST", "PROBLEM"],
        &rows,
    ));
    Ok(())
}

fn test(data: &DataDir, name: &str) -> CliResult {
    let queued: qcity_types::Queued = Client::connect(data)?.post(&format!(
        "/notify/channels/{}/test",
        crate::commands::encode(name)
    ))?;
    println!(
        "queued test message {} for `{name}`: `qcity notify list` shows how it went",
        queued.message
    );
    Ok(())
}
