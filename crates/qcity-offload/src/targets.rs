//! A place's name to its executor: `local`, `ssh:NAME`, `github:NAME`, `fleet`.

use qcity_config::Config;

use crate::exec::{ExecError, Ran, Work};

/// Runs one attempt of `work` at `place`.
pub(crate) async fn dispatch(
    place: &str,
    config: &Config,
    work: &Work,
    fleet: Option<&qcity_fleet::Node>,
) -> Result<Ran, ExecError> {
    if place == "local" {
        return crate::local::run(work).await;
    }
    if place == crate::fleet::PLACE {
        return match fleet {
            Some(node) => crate::fleet::run(node, work).await,
            None => Err(ExecError::Refused(
                "no fleet in qmoi_cloud_config.json (a fleet added since QCity started needs a restart)".into(),
            )),
        };
    }
    let (kind, name) = place.split_once(':').unwrap_or((place, ""));
    let Some(target) = config.cloud.targets.iter().find(|t| t.name == name) else {
        return Err(ExecError::Refused(format!(
            "no target `{name}` in qmoi_cloud_config.json any more"
        )));
    };
    match (kind, &target.ssh, &target.github) {
        ("ssh", Some(ssh), _) => crate::ssh::run(name, ssh, work).await,
        ("github", _, Some(gh)) => {
            // A token that cannot be read refuses this place; the next one is tried.
            let token = crate::github::Token::from_config(gh)?;
            crate::github::run(name, gh, &token, work).await
        }
        _ => Err(ExecError::Refused(format!(
            "target `{name}` is not a {kind} target"
        ))),
    }
}
