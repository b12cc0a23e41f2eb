//! The notifier runs in the daemon: a headless `qcity up`, with no tray app anywhere, decides
//! the desktop's notices and publishes them on its event stream and journal.

use serde_json::Value;

use crate::support::{Daemon, agent, unique, wait_until};

/// The `notice` events in the journal, oldest first.
fn notices(d: &Daemon) -> Vec<Value> {
    let page: Value = agent()
        .get(format!(
            "{}/events?after=0&type=notice&limit=1000",
            d.api_base()
        ))
        .header("Authorization", format!("Bearer {}", d.token()))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    page["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_headless_daemon_decides_the_desktop_notice_of_a_failure() {
    let name = unique("broken");
    let d = Daemon::start(&format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", "echo boom; exit 3"],
            "restart": {{"policy": "never"}}}}]}}"#
    ));
    let notice = wait_until("a notice for the failed runner", || {
        notices(&d)
            .into_iter()
            .find(|e| e["runner"] == name || e["notice"]["runner"] == name)
    });
    assert_eq!(notice["channel"], "desktop", "{notice}");
    assert_eq!(notice["notice"]["severity"], "error", "{notice}");
    assert_eq!(
        notice["notice"]["title"],
        format!("{name} failed"),
        "{notice}"
    );
    assert_eq!(
        notice["notice"]["body"],
        format!("{name} stopped: exit 3."),
        "{notice}"
    );
}
