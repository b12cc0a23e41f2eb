//! The notifier runs in the daemon: a headless `qcity up`, with no tray app anywhere, decides
//! the desktop's notices and publishes them on its event stream and journal.

use crate::support::{Daemon, unique, wait_until};

#[test]
fn a_headless_daemon_decides_the_desktop_notice_of_a_failure() {
    let name = unique("broken");
    let d = Daemon::start(&format!(
        r#"{{"runners": [{{"name": "{name}", "command": ["sh", "-c", "echo boom; exit 3"],
            "restart": {{"policy": "never"}}}}]}}"#
    ));
    let notice = wait_until("a notice for the failed runner", || {
        d.events("notice")
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
