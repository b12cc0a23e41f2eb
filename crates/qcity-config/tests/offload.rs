//! The offload config on real files: jobs in the manifest, targets and the store in
//! `qmoi_cloud_config.json`, and the errors that name file:line:col and the field.

use qcity_config::{HostKeyCheck, OffloadMode, OffloadPolicy, load_dir};

const MANIFEST: &str = "runner_manifest.json";
const CLOUD: &str = "qmoi_cloud_config.json";

fn load(files: &[(&str, &str)]) -> Result<qcity_config::Config, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let prefix = dir.path().display().to_string();
    load_dir(dir.path()).map_err(|errs| {
        errs.0
            .iter()
            .map(|e| e.to_string().replace(&prefix, "<dir>"))
            .collect()
    })
}

#[test]
fn jobs_targets_and_store_are_read_with_their_defaults() {
    let manifest = r#"{"jobs": [{
        "name": "web-build", "command": ["npm", "run", "build"], "working_dir": "web",
        "inputs": ["src", "package.json", "git:main"], "artifacts": ["dist/**"],
        "cache": {"paths": ["node_modules"], "key": "npm-", "key_files": ["package-lock.json"],
                  "restore_keys": ["npm-"]}
    }]}"#;
    let cloud = r#"{"mode": "cloud-first", "targets": [
        {"name": "box", "ssh": {"host": "build.lan", "user": "ci", "identity_file": "keys/id"}},
        {"name": "gh", "github": {"repo": "acme/app", "workflow": "offload.yml"}}
    ]}"#;
    let config = load(&[(MANIFEST, manifest), (CLOUD, cloud)]).unwrap();
    let job = &config.manifest.jobs[0];
    assert_eq!(job.offload, OffloadPolicy::Auto);
    assert_eq!(job.timeout_ms, 3_600_000);
    assert_eq!(config.cloud.mode, OffloadMode::CloudFirst);
    let ssh = config.cloud.targets[0].ssh.as_ref().unwrap();
    assert_eq!((ssh.port, ssh.host_key_check), (22, HostKeyCheck::Strict));
    assert_eq!(config.cloud.targets[0].place(), "ssh:box");
    let gh = config.cloud.targets[1].github.as_ref().unwrap();
    assert_eq!(gh.token, "env://GITHUB_TOKEN");
    assert_eq!(gh.git_ref, "main");
    assert_eq!(config.cloud.targets[1].place(), "github:gh");
    assert_eq!(config.cloud.store.url, None, "the local store by default");
    assert_eq!(config.cloud.retries.attempts, 3);
}

#[test]
fn bad_jobs_are_named_by_file_line_and_field() {
    let manifest = r#"{"jobs": [
  {"name": "a", "command": ["true"], "artifacts": ["/etc/passwd", "../up"], "inputs": ["git:--upload-pack=x"]},
  {"name": "a", "command": [], "cache": {"paths": [], "key": "bad key"}, "offload": "sometimes"}
]}"#;
    let errs = load(&[(MANIFEST, manifest)]).unwrap_err();
    assert_eq!(
        errs,
        [
            "<dir>/runner_manifest.json:3:85: jobs[1].offload: unknown variant `sometimes`, \
             expected one of `never`, `auto`, `always`"
        ],
        "a value of the wrong shape is reported first, alone"
    );
    let manifest = manifest.replace(r#", "offload": "sometimes""#, "");
    let errs = load(&[(MANIFEST, &manifest)]).unwrap_err();
    assert_eq!(
        errs,
        [
            "<dir>/runner_manifest.json:2:52: jobs[0].artifacts[0]: `/etc/passwd` is absolute: \
             give it relative to the job's directory",
            "<dir>/runner_manifest.json:2:67: jobs[0].artifacts[1]: `../up` climbs out of the \
             job's directory with `..`",
            "<dir>/runner_manifest.json:2:88: jobs[0].inputs[0]: `git:--upload-pack=x`: give a \
             branch, tag or commit after `git:` (letters, digits, `.`, `_`, `-`, `/`, `^`, `~`)",
            "<dir>/runner_manifest.json:3:12: jobs[1].name: duplicate job name `a`: jobs[0] has it",
            "<dir>/runner_manifest.json:3:28: jobs[1].command: command is empty: give the program \
             and its arguments",
            "<dir>/runner_manifest.json:3:51: jobs[1].cache.paths: give at least one directory \
             to cache",
            "<dir>/runner_manifest.json:3:62: jobs[1].cache.key: a cache key: 1 to 400 letters, \
             digits, `.`, `_` or `-`",
        ]
    );
}

#[test]
fn a_token_in_the_file_a_clear_text_store_and_a_target_of_two_kinds_are_refused() {
    let cloud = r#"{
  "targets": [
    {"name": "gh", "github": {"repo": "acme", "workflow": "w.yml", "token": "ghp_abc123"}},
    {"name": "both", "ssh": {"host": "h"}, "github": {"repo": "a/b", "workflow": "w.yml"}},
    {"name": "local", "ssh": {"host": "root@h", "remote_dir": "../tmp"}}
  ],
  "store": {"url": "s3://Bad_Bucket", "endpoint": "http://10.0.0.5:9000"}
}"#;
    let errs = load(&[(MANIFEST, "{}"), (CLOUD, cloud)]).unwrap_err();
    assert_eq!(
        errs,
        [
            "<dir>/qmoi_cloud_config.json:3:39: targets[0].github.repo: `OWNER/REPO`",
            "<dir>/qmoi_cloud_config.json:3:77: targets[0].github.token: `ghp_abc123` is not a \
             secret reference: write keyring://NAME or env://NAME; a token is never written in \
             the file",
            "<dir>/qmoi_cloud_config.json:4:5: targets[1]: give exactly one of `ssh` and `github`",
            "<dir>/qmoi_cloud_config.json:5:14: targets[2].name: invalid target name: 1 to 64 \
             letters, digits, `.`, `_` or `-`, not `local`",
            "<dir>/qmoi_cloud_config.json:5:39: targets[2].ssh.host: a host name or address (no \
             `@`, spaces or leading `-`; the user goes in `user`)",
            "<dir>/qmoi_cloud_config.json:5:63: targets[2].ssh.remote_dir: a directory (relative \
             to the login's home, or absolute) without `..`: letters, digits, `.`, `_`, `-`, `/`",
            "<dir>/qmoi_cloud_config.json:7:20: store.url: `Bad_Bucket` is not a bucket name: 3 \
             to 63 lowercase letters, digits, `-` or `.`",
            "<dir>/qmoi_cloud_config.json:7:51: store.endpoint: `http://10.0.0.5:9000`: http:// \
             is accepted only on loopback; use https://",
        ]
    );
}

#[test]
fn a_fleet_is_read_with_its_defaults_and_roles() {
    let manifest = r#"{"version": 3, "roles": {"*": ["linux"], "mac-mini": ["build-mac"]},
        "jobs": [{"name": "app", "command": ["make"], "capability": "build-mac", "fallback": ["linux"]}]}"#;
    let cloud = r#"{"fleet": {"servers": ["nats://127.0.0.1:4222"], "token": "env://NATS_TOKEN"}}"#;
    let config = load(&[(MANIFEST, manifest), (CLOUD, cloud)]).unwrap();
    let fleet = config.cloud.fleet.as_ref().unwrap();
    assert_eq!(fleet.max_jobs, 2);
    assert_eq!((fleet.ack_wait_seconds, fleet.max_deliver), (30, 5));
    assert_eq!(fleet.node, None, "the host name by default");
    assert_eq!(config.manifest.version, Some(3));
    assert_eq!(config.manifest.roles["mac-mini"], ["build-mac"]);
    assert_eq!(config.manifest.jobs[0].fallback, ["linux"]);
    let without = load(&[(MANIFEST, r#"{"runners": []}"#)]).unwrap();
    assert_eq!(
        without.cloud.fleet, None,
        "no fleet section: nothing about NATS"
    );
}

#[test]
fn bad_fleet_settings_are_named_by_file_line_and_field() {
    let manifest = r#"{"roles": {"bad node!": ["ok"], "b": ["no spaces"]},
"jobs": [{"name": "j", "command": ["true"], "capability": "a b"}]}"#;
    let cloud = r#"{"fleet": {"servers": ["nats://10.0.0.5:4222", "http://x"], "token": "s3cr3t",
"node": "", "ack_wait_seconds": 0}}"#;
    let errs = load(&[(MANIFEST, manifest), (CLOUD, cloud)]).unwrap_err();
    assert_eq!(
        errs,
        [
            "<dir>/runner_manifest.json:1:25: roles[\"bad node!\"]: a node name is 1 to 64 letters, digits, `.`, `_` or `-` (or `*`)",
            "<dir>/runner_manifest.json:1:39: roles.b[0]: a capability is 1 to 64 letters, digits, `.`, `_` or `-`",
            "<dir>/runner_manifest.json:2:59: jobs[0].capability: a capability is 1 to 64 letters, digits, `.`, `_` or `-`",
            "<dir>/qmoi_cloud_config.json:1:24: fleet.servers[0]: `nats://10.0.0.5:4222`: nats:// is accepted only on loopback; use tls:// to reach another machine",
            "<dir>/qmoi_cloud_config.json:1:48: fleet.servers[1]: `http://x`: write nats://HOST:PORT (loopback) or tls://HOST:PORT",
            "<dir>/qmoi_cloud_config.json:1:70: fleet.token: `s3cr3t` is not a secret reference: write keyring://NAME or env://NAME",
            "<dir>/qmoi_cloud_config.json:2:9: fleet.node: a node name is 1 to 64 letters, digits, `.`, `_` or `-`",
            "<dir>/qmoi_cloud_config.json:2:33: fleet.ack_wait_seconds: at least 1",
        ]
    );
}
