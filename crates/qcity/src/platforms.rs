//! `qcity platforms`: the platforms' status pages as the daemon last read them.

use qcity_client::Client;
use qcity_engine::datadir::DataDir;
use qcity_types::{PlatformState, PlatformStatus};

use crate::exit::CliResult;
use crate::format;

pub fn run(data: &DataDir, json: bool) -> CliResult {
    let platforms: Vec<PlatformStatus> = Client::connect(data)?.get("/platforms")?;
    if json {
        return crate::commands::print_json(&platforms);
    }
    if platforms.is_empty() {
        println!("no platforms watched: platforms.enabled is false, or platforms.watch is empty");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = platforms
        .into_iter()
        .map(|p| {
            let state = match (p.state, p.last_known, p.as_of_ms) {
                (PlatformState::Unknown, Some(last), Some(at)) => {
                    format!("unknown (was {} {})", last.words(), format::ago(at))
                }
                (s, _, _) => s.words(),
            };
            let mut what = p.summary;
            // While unknown, the incidents are those of the last good read: not news.
            if let Some(i) = p
                .incidents
                .first()
                .filter(|_| p.state != PlatformState::Unknown)
            {
                what = format!("{what}: {}", i.title);
                if p.incidents.len() > 1 {
                    what.push_str(&format!(" (+{} more)", p.incidents.len() - 1));
                }
            }
            let checked = p.checked_ms.map_or("not yet".into(), format::ago);
            vec![p.name, state, what, checked]
        })
        .collect();
    crate::commands::emit(&format::table(
        &["PLATFORM", "STATE", "SUMMARY", "CHECKED"],
        &rows,
    ));
    Ok(())
}
