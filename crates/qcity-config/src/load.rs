//! [`load_dir`]: reads the three files of a configuration directory and reports every error.
//!
//! Each file is parsed as JSON first; a syntax error ends the checks of that file. Then the
//! file is deserialized in parts (the root, each runner, each runner's `restart`, each device
//! section) so that one bad part does not hide errors in the others, and finally the semantic
//! passes of [`crate::validate`] run over the parts that deserialized.

use std::io;
use std::path::Path;

use serde_json::Value;

use crate::error::{ConfigError, ConfigErrors};
use crate::offload::CloudConfig;
use crate::path::JsonPath;
use crate::source::Source;
use crate::types::{
    ApiSettings, CLOUD_FILE, Config, DEVICE_FILE, DeviceConfig, MANIFEST_FILE, RestartSpec,
    RunnerManifest, RunnerSpec, SupervisorSettings,
};
use crate::validate;

/// Loads and validates the configuration in `dir`.
///
/// `runner_manifest.json` is required; `qcity-device-config.json` and `qmoi_cloud_config.json`
/// default when absent. Values are never clamped or repaired: anything out of range is an
/// error. Relative `working_dir`s are kept as written (they are relative to [`Config::dir`],
/// which is set to `dir`).
pub fn load_dir(dir: &Path) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut found = (&mut errors, &mut warnings);
    let manifest = check_file(dir, MANIFEST_FILE, true, &mut found, manifest);
    let device = check_file(dir, DEVICE_FILE, false, &mut found, device);
    let cloud = check_file(dir, CLOUD_FILE, false, &mut found, cloud);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Config {
        dir: dir.to_path_buf(),
        manifest: manifest.unwrap_or_default(),
        device: device.unwrap_or_default(),
        cloud: cloud.unwrap_or_default(),
        warnings,
    })
}

/// Reads `dir/name` and runs `check` over it, appending its errors to `errors`. `None` when
/// the file is absent (an error if `required`), unreadable, or has errors.
fn check_file<T>(
    dir: &Path,
    name: &str,
    required: bool,
    (errors, warnings): &mut (&mut Vec<ConfigError>, &mut Vec<ConfigError>),
    check: fn(&mut Source) -> Option<T>,
) -> Option<T> {
    let file = dir.join(name);
    let text = match read_text(&file) {
        Ok(text) => text,
        Err(Unread::Io(e)) if e.kind() == io::ErrorKind::NotFound && !required => return None,
        Err(Unread::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            let message = "required file is missing".to_owned();
            errors.push(Source::whole_file(&file, message));
            return None;
        }
        Err(Unread::Io(e)) => {
            errors.push(Source::whole_file(&file, format!("cannot read file: {e}")));
            return None;
        }
        Err(Unread::NotAFile(what)) => {
            let message = format!("not a regular file ({what}): a config file must be one");
            errors.push(Source::whole_file(&file, message));
            return None;
        }
        Err(Unread::NotUtf8 { line, column }) => {
            let mut e = Source::whole_file(&file, "not valid UTF-8 text".to_owned());
            (e.line, e.column) = (line, column);
            errors.push(e);
            return None;
        }
    };
    let mut src = Source::new(file, text);
    let out = check(&mut src);
    let (found, warned) = src.into_findings();
    let ok = found.is_empty();
    errors.extend(found);
    warnings.extend(warned);
    out.filter(|_| ok)
}

/// Why a config file's text could not be had.
enum Unread {
    Io(io::Error),
    /// A FIFO, a device, a directory: reading it could block for ever or mean nothing.
    NotAFile(&'static str),
    /// The first byte that is not UTF-8, as a 1-based line and column.
    NotUtf8 {
        line: usize,
        column: usize,
    },
}

fn read_text(file: &Path) -> Result<String, Unread> {
    let kind = std::fs::metadata(file).map_err(Unread::Io)?.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        return Err(Unread::NotAFile(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a device"
        }));
    }
    let bytes = std::fs::read(file).map_err(Unread::Io)?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = 1 + String::from_utf8_lossy(&good[line_start..]).chars().count();
        Unread::NotUtf8 { line, column }
    })
}

/// `runner_manifest.json`: the root without `runners`, then each runner on its own.
fn manifest(src: &mut Source) -> Option<RunnerManifest> {
    let root = JsonPath::root();
    let value = src.parse()?;
    let mut map = src.object(value, &root)?;
    let runners_value = map.remove("runners");
    let root_only = src.deserialize(&Value::Object(map), &root);
    let mut manifest: RunnerManifest = root_only.unwrap_or_default();
    let at = root.key("runners");
    let mut runners = Vec::new();
    let mut restarts = Vec::new();
    match runners_value {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let (spec, restart) = runner(src, item, &at.index(i));
                restarts.extend(restart.map(|r| (i, r)));
                runners.extend(spec.map(|r| (i, r)));
            }
        }
        Some(other) => {
            src.deserialize::<Vec<RunnerSpec>>(&other, &at);
        }
    }
    validate::runners(&runners, src);
    validate::restarts(&restarts, src);
    validate::tasks(&manifest.tasks, src);
    crate::offload_check::jobs(&manifest.jobs, src);
    crate::offload_check::roles(&manifest.roles, src);
    manifest.runners = runners.into_iter().map(|(_, r)| r).collect();
    Some(manifest)
}

/// One runner: everything but `restart`, then `restart` on its own, so that both are
/// checked even if the other is bad. The spec carries the parsed `restart` (or the default);
/// the second value is the parsed `restart`, if any, for the restart passes.
fn runner(
    src: &mut Source,
    value: Value,
    at: &JsonPath,
) -> (Option<RunnerSpec>, Option<RestartSpec>) {
    let Some(mut map) = src.object(value, at) else {
        return (None, None);
    };
    let crash_loop_ok = match map.get("restart").and_then(|r| r.get("crash_loop")) {
        Some(v) => src.is_object(v, true, &at.key("restart").key("crash_loop")),
        None => true,
    };
    let restart: Option<RestartSpec> = if crash_loop_ok {
        src.take_struct(&mut map, "restart", at)
    } else {
        map.remove("restart");
        None
    };
    let spec = src
        .deserialize::<RunnerSpec>(&Value::Object(map), at)
        .map(|mut spec| {
            spec.restart = restart.clone().unwrap_or_default();
            spec
        });
    (spec, restart)
}

/// `qcity-device-config.json`: `api` and `supervisor` on their own, then the rest.
fn device(src: &mut Source) -> Option<DeviceConfig> {
    let root = JsonPath::root();
    let value = src.parse()?;
    let mut map = src.object(value, &root)?;
    let api: Option<ApiSettings> = src.take_struct(&mut map, "api", &root);
    let supervisor: Option<SupervisorSettings> = src.take_struct(&mut map, "supervisor", &root);
    let mut device: DeviceConfig = src
        .deserialize(&Value::Object(map), &root)
        .unwrap_or_default();
    device.api = api.unwrap_or_default();
    device.supervisor = supervisor.unwrap_or_default();
    validate::device(&device, src);
    Some(device)
}

/// `qmoi_cloud_config.json`: targets, placement, retries and the store.
fn cloud(src: &mut Source) -> Option<CloudConfig> {
    let root = JsonPath::root();
    let value = src.parse()?;
    let map = src.object(value, &root)?;
    let cloud: CloudConfig = src.deserialize(&Value::Object(map), &root)?;
    crate::offload_check::cloud(&cloud, src);
    Some(cloud)
}
