//! Checks of the offload config: the manifest's `jobs` and `qmoi_cloud_config.json`.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::offload::{CloudConfig, FleetSettings, JobSpec, TargetSpec};
use crate::path::JsonPath;
use crate::secret_ref::SecretRef;
use crate::source::Source;
use crate::validate::{command_non_empty, env_names, name_well_formed};

/// `keyring://NAME` or `env://NAME`, with or without the braces a URL needs around it.
pub fn secret_field(s: &str) -> Result<SecretRef, String> {
    let inner = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(s);
    SecretRef::parse(inner)
}

const CAPABILITY_FORM: &str = "a capability is 1 to 64 letters, digits, `.`, `_` or `-`";

/// The manifest's fleet roles: node names (or `*`) to well-formed capabilities.
pub(crate) fn roles(roles: &std::collections::BTreeMap<String, Vec<String>>, src: &mut Source) {
    for (node, caps) in roles {
        let at = JsonPath::root().key("roles").key(node);
        if node != "*" && !name_well_formed(node) {
            src.error(
                &at,
                "a node name is 1 to 64 letters, digits, `.`, `_` or `-` (or `*`)",
            );
        }
        for (j, cap) in caps.iter().enumerate() {
            if !name_well_formed(cap) {
                src.error(&at.index(j), CAPABILITY_FORM);
            }
        }
    }
}

/// Every job: a unique well-formed name, a command, relative paths that stay inside the
/// job's directory, a cache with paths and a key.
pub(crate) fn jobs(jobs: &[JobSpec], src: &mut Source) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let at = JsonPath::root().key("jobs").index(i);
        if !name_well_formed(&job.name) {
            src.error(
                &at.key("name"),
                "invalid job name: use 1 to 64 letters, digits, `.`, `_` or `-`",
            );
        } else if let Some(earlier) = first.insert(&job.name, i) {
            src.error(
                &at.key("name"),
                format!("duplicate job name `{}`: jobs[{earlier}] has it", job.name),
            );
        }
        command_non_empty(&job.command, &at, src);
        env_names(&job.env, &at.key("env"), src);
        if job.timeout_ms == 0 {
            src.error(&at.key("timeout_ms"), "must be positive");
        }
        for (j, p) in job.inputs.iter().enumerate() {
            let checked = match p.strip_prefix("git:") {
                Some(rev) => git_rev(rev),
                None => relative_inside(p),
            };
            if let Err(e) = checked {
                src.error(&at.key("inputs").index(j), e);
            }
        }
        if let Some(cap) = &job.capability
            && !name_well_formed(cap)
        {
            src.error(&at.key("capability"), CAPABILITY_FORM);
        }
        for (j, cap) in job.fallback.iter().enumerate() {
            if !name_well_formed(cap) {
                src.error(&at.key("fallback").index(j), CAPABILITY_FORM);
            }
        }
        for (j, p) in job.artifacts.iter().enumerate() {
            if let Err(e) = relative_inside(p) {
                src.error(&at.key("artifacts").index(j), e);
            }
        }
        if let Some(cache) = &job.cache {
            let at = at.key("cache");
            if cache.paths.is_empty() {
                src.error(&at.key("paths"), "give at least one directory to cache");
            }
            for (field, list) in [("paths", &cache.paths), ("key_files", &cache.key_files)] {
                for (j, p) in list.iter().enumerate() {
                    if let Err(e) = relative_inside(p) {
                        src.error(&at.key(field).index(j), e);
                    }
                }
            }
            for (field, key) in std::iter::once(("key", &cache.key))
                .chain(cache.restore_keys.iter().map(|k| ("restore_keys", k)))
            {
                if let Err(e) = cache_key(key) {
                    src.error(&at.key(field), e);
                }
            }
        }
    }
}

/// A cache key: 1 to 400 characters (the hash adds 64 more, under actions/cache's 512) of
/// letters, digits, `-`, `_` and `.`, as it becomes a path in the store.
fn cache_key(key: &str) -> Result<(), String> {
    let ok = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if key.is_empty() || key.len() > 400 || !ok {
        return Err("a cache key: 1 to 400 letters, digits, `.`, `_` or `-`".into());
    }
    Ok(())
}

/// `git:REV`'s revision: a branch, tag or commit name git would take, not an option.
fn git_rev(rev: &str) -> Result<(), String> {
    let ok = !rev.is_empty()
        && !rev.starts_with('-')
        && !rev.contains("..")
        && rev
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '^' | '~'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`git:{rev}`: give a branch, tag or commit after `git:` (letters, digits, `.`, `_`, `-`, `/`, `^`, `~`)"
        ))
    }
}

/// A path relative to the job's directory that does not climb out of it.
fn relative_inside(p: &str) -> Result<(), String> {
    let path = std::path::Path::new(p);
    if p.is_empty() {
        return Err("path is empty".into());
    }
    if path.is_absolute() {
        return Err(format!(
            "`{p}` is absolute: give it relative to the job's directory"
        ));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("`{p}` climbs out of the job's directory with `..`"));
    }
    Ok(())
}

/// `qmoi_cloud_config.json`.
pub(crate) fn cloud(cloud: &CloudConfig, src: &mut Source) {
    let p = &cloud.placement;
    if p.min_battery_percent > 100 {
        src.error(
            &JsonPath::root().key("placement").key("min_battery_percent"),
            "a percentage: 0 to 100",
        );
    }
    if p.max_load_per_cpu.is_nan() || p.max_load_per_cpu <= 0.0 {
        src.error(
            &JsonPath::root().key("placement").key("max_load_per_cpu"),
            "must be positive",
        );
    }
    let r = &cloud.retries;
    if r.attempts == 0 {
        src.error(
            &JsonPath::root().key("retries").key("attempts"),
            "at least 1 (the first placement)",
        );
    }
    if r.max_delay_ms < r.delay_ms {
        src.error(
            &JsonPath::root().key("retries").key("max_delay_ms"),
            "must be at least delay_ms",
        );
    }
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, target) in cloud.targets.iter().enumerate() {
        let at = JsonPath::root().key("targets").index(i);
        if !name_well_formed(&target.name) || target.name == "local" {
            src.error(
                &at.key("name"),
                "invalid target name: 1 to 64 letters, digits, `.`, `_` or `-`, not `local`",
            );
        } else if let Some(earlier) = first.insert(&target.name, i) {
            src.error(
                &at.key("name"),
                format!(
                    "duplicate target name `{}`: targets[{earlier}] has it",
                    target.name
                ),
            );
        }
        if target.max_jobs == 0 {
            src.error(&at.key("max_jobs"), "at least 1");
        }
        target_kind(target, &at, src);
    }
    if let Some(fleet) = &cloud.fleet {
        fleet_sane(fleet, src);
    }
    let store = &cloud.store;
    let at = JsonPath::root().key("store");
    if let Some(url) = &store.url
        && let Err(e) = s3_url(url)
    {
        src.error(&at.key("url"), e);
    }
    if let Some(endpoint) = &store.endpoint
        && let Err(e) = http_root(endpoint)
    {
        src.error(&at.key("endpoint"), e);
    }
    for (field, value) in [
        ("access_key_id", &store.access_key_id),
        ("secret_access_key", &store.secret_access_key),
    ] {
        if let Some(v) = value
            && let Err(e) = secret_field(v)
        {
            src.error(&at.key(field), e);
        }
    }
    if store.url.is_none() && (store.endpoint.is_some() || store.access_key_id.is_some()) {
        src.error(
            &at.key("url"),
            "an endpoint or keys are given but no `s3://BUCKET` url",
        );
    }
    if store.cache_max_mb == 0 {
        src.error(&at.key("cache_max_mb"), "at least 1");
    }
}

/// Servers given, each `nats://` on loopback or `tls://`; the token a reference; the
/// numbers in range.
fn fleet_sane(fleet: &FleetSettings, src: &mut Source) {
    let at = JsonPath::root().key("fleet");
    if fleet.servers.is_empty() {
        src.error(
            &at.key("servers"),
            "give at least one NATS server (nats://127.0.0.1:4222)",
        );
    }
    for (i, url) in fleet.servers.iter().enumerate() {
        if let Err(e) = nats_url(url) {
            src.error(&at.key("servers").index(i), e);
        }
    }
    if let Some(token) = &fleet.token
        && let Err(e) = secret_field(token)
    {
        src.error(&at.key("token"), e);
    }
    if let Some(node) = &fleet.node
        && !name_well_formed(node)
    {
        src.error(
            &at.key("node"),
            "a node name is 1 to 64 letters, digits, `.`, `_` or `-`",
        );
    }
    for (field, value) in [
        ("ack_wait_seconds", fleet.ack_wait_seconds),
        ("heartbeat_seconds", fleet.heartbeat_seconds),
        ("max_deliver", u64::from(fleet.max_deliver)),
    ] {
        if value == 0 {
            src.error(&at.key(field), "at least 1");
        }
    }
}

/// `nats://HOST:PORT` to a loopback address, or `tls://HOST:PORT`: a token never crosses a
/// network in clear.
fn nats_url(url: &str) -> Result<(), String> {
    let (rest, tls) = if let Some(r) = url.strip_prefix("tls://") {
        (r, true)
    } else if let Some(r) = url.strip_prefix("nats://") {
        (r, false)
    } else {
        return Err(format!(
            "`{url}`: write nats://HOST:PORT (loopback) or tls://HOST:PORT"
        ));
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("`{url}`: write nats://HOST:PORT, with no path"));
    }
    if !tls && !loopback_host(authority) {
        return Err(format!(
            "`{url}`: nats:// is accepted only on loopback; use tls:// to reach another machine"
        ));
    }
    Ok(())
}

/// The host of `HOST[:PORT]` is `localhost` or a loopback address.
fn loopback_host(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn target_kind(target: &TargetSpec, at: &JsonPath, src: &mut Source) {
    match (&target.ssh, &target.github) {
        (Some(_), Some(_)) | (None, None) => {
            src.error(at, "give exactly one of `ssh` and `github`");
        }
        (Some(ssh), None) => {
            let at = at.key("ssh");
            if ssh.host.is_empty()
                || ssh.host.starts_with('-')
                || ssh.host.chars().any(|c| c.is_whitespace() || c == '@')
            {
                src.error(
                    &at.key("host"),
                    "a host name or address (no `@`, spaces or leading `-`; the user goes in `user`)",
                );
            }
            if let Some(user) = &ssh.user
                && (user.is_empty()
                    || user.starts_with('-')
                    || !user
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            {
                src.error(
                    &at.key("user"),
                    "a login name: letters, digits, `.`, `_`, `-`",
                );
            }
            if ssh.remote_dir.is_empty()
                || ssh.remote_dir.split('/').any(|c| c == "..")
                || !ssh
                    .remote_dir
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
            {
                src.error(
                    &at.key("remote_dir"),
                    "a directory (relative to the login's home, or absolute) without `..`: letters, digits, `.`, `_`, `-`, `/`",
                );
            }
            if ssh.connect_timeout_seconds == 0 {
                src.error(&at.key("connect_timeout_seconds"), "at least 1");
            }
        }
        (None, Some(gh)) => {
            let at = at.key("github");
            let parts: Vec<&str> = gh.repo.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| !name_well_formed(p)) {
                src.error(&at.key("repo"), "`OWNER/REPO`");
            }
            if gh.workflow.is_empty() || gh.workflow.contains('/') {
                src.error(
                    &at.key("workflow"),
                    "the workflow's file name (`offload.yml`) or id",
                );
            }
            if gh.git_ref.is_empty() {
                src.error(&at.key("ref"), "a branch or tag");
            }
            if let Err(e) = secret_field(&gh.token) {
                src.error(
                    &at.key("token"),
                    format!("{e}; a token is never written in the file"),
                );
            }
            if let Err(e) = http_root(&gh.api_url) {
                src.error(&at.key("api_url"), e);
            }
            if gh.poll_seconds == 0 {
                src.error(&at.key("poll_seconds"), "at least 1");
            }
        }
    }
}

/// `s3://BUCKET[/PREFIX]`.
fn s3_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(format!("`{url}`: write s3://BUCKET or s3://BUCKET/PREFIX"));
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if !ok {
        return Err(format!(
            "`{bucket}` is not a bucket name: 3 to 63 lowercase letters, digits, `-` or `.`"
        ));
    }
    Ok(())
}

/// `https://HOST[:PORT][/PATH]`, or `http://` to a loopback address only: a token or keys
/// never cross a network in clear.
fn http_root(url: &str) -> Result<(), String> {
    let (rest, tls) = if let Some(r) = url.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, false)
    } else {
        return Err(format!("`{url}`: give an https:// address"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    if !tls && !loopback_host(authority) {
        return Err(format!(
            "`{url}`: http:// is accepted only on loopback; use https://"
        ));
    }
    Ok(())
}
