//! What `GET /config` must not show: the values of `env` entries that are secrets, told by
//! their name (`RUNNER_TOKEN`) or by their shape (a password inside a URL, a token with a
//! service's known prefix). A runner printing its own environment to its log is its business;
//! the API does not hand it out.

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";

/// Redacts every secret `env` value anywhere in `v` (the runner manifest as JSON).
pub fn env_values(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match val {
                    Value::Object(env) if k == "env" => {
                        for (name, value) in env.iter_mut() {
                            if let Value::String(text) = value
                                && let Some(safe) = redacted(name, text)
                            {
                                *value = Value::String(safe);
                            }
                        }
                    }
                    _ => env_values(val),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(env_values),
        _ => {}
    }
}

/// What to show instead of `value`, when it is (or holds) a secret.
fn redacted(name: &str, value: &str) -> Option<String> {
    if secret_name(name) || secret_shape(value) {
        return Some(REDACTED.to_string());
    }
    url_password(value)
}

/// Names that say their value is a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Tokens whose prefix names the service that issued them.
fn secret_shape(value: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_", // GitHub
        "glpat-",      // GitLab
        "xoxb-",
        "xoxp-",
        "xapp-", // Slack
        "AKIA",  // AWS access key id
        "sk-",   // OpenAI-style API keys
    ];
    let v = value.trim();
    PREFIXES
        .iter()
        .any(|p| v.starts_with(p) && v.len() >= p.len() + 16)
}

/// `scheme://user:password@host…` with the password replaced, the rest kept (it says where
/// the runner connects, which helps).
fn url_password(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:{REDACTED}@{host}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_told_by_name_by_shape_and_inside_urls() {
        let mut v = serde_json::json!({"runners": [{"env": {
            "RUNNER_TOKEN": "abc",
            "DATABASE_URL": "postgres://u:secret@db.local:5432/app?sslmode=require",
            "CACHE_URL": "redis://cache.local:6379",
            "MIRROR": "https://user@mirror.local/x",
            "GH": "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "LANG": "C",
        }}]});
        env_values(&mut v);
        let env = &v["runners"][0]["env"];
        assert_eq!(env["RUNNER_TOKEN"], REDACTED);
        assert_eq!(
            env["DATABASE_URL"],
            "postgres://u:<redacted>@db.local:5432/app?sslmode=require"
        );
        assert_eq!(env["CACHE_URL"], "redis://cache.local:6379");
        assert_eq!(env["MIRROR"], "https://user@mirror.local/x");
        assert_eq!(env["GH"], REDACTED);
        assert_eq!(env["LANG"], "C");
    }
}
