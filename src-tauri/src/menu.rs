//! The tray's menu: built anew from the runners at each redraw, so that its items follow the
//! state, and what a click on each item means.

use qcity_types::{ControlAction, RunnerStatus};
use tray_icon::menu::{
    CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Result, Submenu,
};

/// The menu while the engine is being reached.
pub(crate) fn starting() -> Menu {
    let m = Menu::new();
    let _ = m.append(&MenuItem::with_id("quit", "Quit", true, None));
    m
}

/// What the menu shows, and nothing else: the menu is rebuilt only when this changes. A
/// rebuild gives every item a new id and closes a menu the user has open, so a status change
/// the menu does not show (a probe's detail, an uptime) must not cause one; nor a click
/// on the old menu be lost to it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    up: bool,
    autostart: bool,
    /// Name, state, colour of each runner, and the controls its state allows (the engine's
    /// `actions`, which the dashboard follows too).
    runners: Vec<(String, &'static str, &'static str, Vec<ControlAction>)>,
    /// The newer QCity on offer, if any.
    update: Option<String>,
}

pub(crate) fn key(
    runners: &[RunnerStatus],
    up: bool,
    autostart: bool,
    update: Option<String>,
) -> Key {
    Key {
        up,
        autostart,
        update,
        runners: runners
            .iter()
            .map(|r| {
                let colour = r.colour.as_str();
                (r.name.clone(), r.state.name(), colour, r.actions.clone())
            })
            .collect(),
    }
}

/// The menu for `key`.
pub(crate) fn build(key: &Key) -> Result<Menu> {
    let Key {
        up,
        autostart,
        ref runners,
        ref update,
    } = *key;
    let m = Menu::new();
    m.append(&MenuItem::with_id("open", "Open dashboard", up, None))?;
    if let Some(version) = update {
        // Opens the dashboard's Update page: the update is confirmed there, with its gate.
        m.append(&MenuItem::with_id(
            "update",
            format!("Update available ({version})"),
            up,
            None,
        ))?;
    }
    m.append(&PredefinedMenuItem::separator())?;
    for (name, state, colour, actions) in runners {
        let can = |a: ControlAction| actions.contains(&a);
        let id = |action: &str| format!("runner/{name}/{action}");
        let items = [
            MenuItem::with_id(id("page"), "Open its page", true, None),
            MenuItem::with_id(id("start"), "Start", can(ControlAction::Start), None),
            MenuItem::with_id(id("stop"), "Stop", can(ControlAction::Stop), None),
            MenuItem::with_id(id("restart"), "Restart", can(ControlAction::Restart), None),
            if can(ControlAction::Resume) {
                MenuItem::with_id(id("resume"), "Resume", true, None)
            } else {
                MenuItem::with_id(id("pause"), "Pause", can(ControlAction::Pause), None)
            },
        ];
        let refs: Vec<&dyn IsMenuItem> = items.iter().map(|i| i as &dyn IsMenuItem).collect();
        m.append(&Submenu::with_id_and_items(
            format!("runner/{name}"),
            format!("{name} — {state} ({colour})"),
            true,
            &refs,
        )?)?;
    }
    if !runners.is_empty() {
        m.append(&PredefinedMenuItem::separator())?;
    }
    m.append(&MenuItem::with_id("pause-all", "Pause all", up, None))?;
    m.append(&MenuItem::with_id("resume-all", "Resume all", up, None))?;
    m.append(&MenuItem::with_id("autotest", "Run autotests", up, None))?;
    m.append(&CheckMenuItem::with_id(
        "autostart",
        "Start at login",
        true,
        autostart,
        None,
    ))?;
    m.append(&PredefinedMenuItem::separator())?;
    m.append(&MenuItem::with_id("quit", "Quit", true, None))?;
    Ok(m)
}

/// What a menu item asks for (Quit is the event loop's own).
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    /// Show the dashboard at this route.
    Open(String),
    ToggleAutostart,
    /// A call to the engine's API.
    Api(Call),
    None,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Call {
    Autotest,
    /// `pause` or `resume`, for every runner.
    All(&'static str),
    /// `start`, `stop`, `restart`, `pause` or `resume` for one runner.
    Runner {
        name: String,
        verb: String,
    },
}

pub(crate) fn action(id: &str) -> Action {
    match id {
        "open" => Action::Open("#/".into()),
        "update" => Action::Open("#/update".into()),
        "autostart" => Action::ToggleAutostart,
        "autotest" => Action::Api(Call::Autotest),
        "pause-all" => Action::Api(Call::All("pause")),
        "resume-all" => Action::Api(Call::All("resume")),
        other => match other
            .strip_prefix("runner/")
            .and_then(|rest| rest.rsplit_once('/'))
        {
            Some((name, "page")) => Action::Open(format!("#/runner/{name}")),
            Some((name, verb)) => Action::Api(Call::Runner {
                name: name.into(),
                verb: verb.into(),
            }),
            None => Action::None,
        },
    }
}

/// Makes the call (off the event loop: it blocks on the API).
pub(crate) fn call(client: &qcity_client::Client, call: &Call) -> std::result::Result<(), String> {
    match call {
        Call::Autotest => {
            let report: serde_json::Value = client.post("/autotest").map_err(|e| e.to_string())?;
            let passed = report["passed"].as_bool().unwrap_or(false);
            crate::watch::notify_desktop(
                None,
                if passed {
                    "Autotests passed"
                } else {
                    "Autotests failed"
                },
                &format!(
                    "{} checks",
                    report["checks"].as_array().map_or(0, |c| c.len())
                ),
                !passed,
            );
            Ok(())
        }
        Call::All(verb) => {
            let runners: Vec<RunnerStatus> = client.get("/runners").map_err(|e| e.to_string())?;
            for r in runners {
                let _ = client.post::<serde_json::Value>(&format!("/runners/{}/{verb}", r.name));
            }
            Ok(())
        }
        Call::Runner { name, verb } => client
            .post::<serde_json::Value>(&format!("/runners/{name}/{verb}"))
            .map(drop)
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(name: &str, state: serde_json::Value, uptime_ms: u64) -> RunnerStatus {
        serde_json::from_value(serde_json::json!({
            "name": name, "state": state, "pid": 10, "uptime_ms": uptime_ms,
            "restarts": 0, "last_exit": null,
        }))
        .expect("a runner status")
    }

    #[test]
    fn the_menu_is_rebuilt_for_what_it_shows_only() {
        let running = serde_json::json!({"state": "running", "pid": 10, "pgid": 10, "since_ms": 5});
        let a = key(&[runner("a", running.clone(), 100)], true, false, None);
        // Uptime moved on: the menu shows no uptime.
        assert_eq!(
            a,
            key(&[runner("a", running.clone(), 9_000)], true, false, None)
        );
        let stopped = serde_json::json!({"state": "stopped"});
        assert_ne!(a, key(&[runner("a", stopped, 9_000)], true, false, None));
        assert_ne!(
            a,
            key(&[runner("a", running.clone(), 100)], true, true, None)
        );
        assert_ne!(
            a,
            key(&[runner("b", running.clone(), 100)], true, false, None)
        );
        let offered = key(
            &[runner("a", running, 100)],
            true,
            false,
            Some("2.0.0".into()),
        );
        assert_ne!(a, offered);
        assert!(build(&offered).is_ok());
        assert!(build(&a).is_ok());
    }

    #[test]
    fn item_ids_map_to_their_actions() {
        assert_eq!(action("open"), Action::Open("#/".into()));
        assert_eq!(action("update"), Action::Open("#/update".into()));
        assert_eq!(
            action("runner/web-1/page"),
            Action::Open("#/runner/web-1".into())
        );
        assert_eq!(
            action("runner/a/b/restart"),
            Action::Api(Call::Runner {
                name: "a/b".into(),
                verb: "restart".into()
            })
        );
        assert_eq!(action("pause-all"), Action::Api(Call::All("pause")));
        assert_eq!(action("runner/"), Action::None);
        assert_eq!(action("nonsense"), Action::None);
    }
}
