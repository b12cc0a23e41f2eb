//! "Start at login": an XDG autostart entry on Linux (a launch agent on macOS, the Run key on
//! Windows), through the same `auto-launch` crate Tauri's autostart plugin uses, under the same
//! name, so an entry made by an earlier build is found.

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

/// The product name (`tauri.conf.json`): the entry's name.
const NAME: &str = "qcity-tray";

pub(crate) struct Autostart(Result<AutoLaunch, String>);

impl Autostart {
    pub(crate) fn new() -> Autostart {
        Autostart(Self::build())
    }

    fn build() -> Result<AutoLaunch, String> {
        // In an AppImage the program is the image, not the file mounted from it.
        let path = match std::env::var_os("APPIMAGE") {
            Some(p) => std::path::PathBuf::from(p),
            None => {
                std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?
            }
        };
        AutoLaunchBuilder::new()
            .set_app_name(NAME)
            .set_app_path(&path.to_string_lossy())
            .build()
            .map_err(|e| e.to_string())
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.0
            .as_ref()
            .is_ok_and(|a| a.is_enabled().unwrap_or(false))
    }

    /// Turns it on when off, off when on.
    pub(crate) fn toggle(&self) -> Result<(), String> {
        let a = self.0.as_ref().map_err(Clone::clone)?;
        let r = if a.is_enabled().unwrap_or(false) {
            a.disable()
        } else {
            a.enable()
        };
        r.map_err(|e| e.to_string())
    }
}
