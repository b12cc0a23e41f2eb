//! The GitHub token: read from where the config names it, never printed.

use crate::exec::ExecError;

/// A GitHub token. Its `Debug` and `Display` print `***`, so it can travel in structs that
/// are logged.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(secret: impl Into<String>) -> Token {
        Token(secret.into())
    }

    /// The token `target.token` names (`env://GITHUB_TOKEN`, `keyring://NAME`). A token that
    /// cannot be read refuses the target: the next one is tried.
    pub fn from_config(target: &qcity_config::GithubTarget) -> Result<Token, ExecError> {
        let named = qcity_config::secret_field(&target.token)
            .map_err(|e| ExecError::Refused(format!("github token `{}`: {e}", target.token)))?;
        qcity_secrets::read(&named)
            .map(Token)
            .map_err(|e| ExecError::Refused(format!("github token `{}`: {e}", target.token)))
    }

    /// The secret itself, for the `Authorization` header only.
    pub(super) fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn a_token_prints_no_secret() {
        let t = Token::new("ghp_s3cretvalue");
        assert_eq!(format!("{t:?}"), "***");
        assert_eq!(format!("{t}"), "***");
        assert_eq!(format!("{:?}", Some(t.clone())), "Some(***)");
        assert_eq!(t.secret(), "ghp_s3cretvalue");
    }

    fn target(token: &str) -> qcity_config::GithubTarget {
        serde_json::from_value(serde_json::json!({
            "repo": "acme/app", "workflow": "offload.yml", "token": token,
        }))
        .unwrap()
    }

    #[test]
    fn the_token_is_read_from_where_the_config_names_it() {
        // PATH is set wherever tests run; it stands for a token variable.
        let t = Token::from_config(&target("env://PATH")).unwrap();
        assert_eq!(t.secret(), std::env::var("PATH").unwrap());
        let e = Token::from_config(&target("env://QCITY_TEST_NO_SUCH_TOKEN_7")).unwrap_err();
        assert!(matches!(e, crate::exec::ExecError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("QCITY_TEST_NO_SUCH_TOKEN_7"), "{e}");
    }
}
