//! A target's repository under the API root, and the `link` pagination of GitHub's lists.

use std::time::Duration;

use qcity_config::GithubTarget;
use reqwest::Url;

use super::client::{Answer, Client};
use crate::exec::ExecError;

/// One target's repository and workflow, with the client that reaches them.
pub(crate) struct Gh<'a> {
    pub client: Client,
    pub target: &'a GithubTarget,
}

impl Gh<'_> {
    /// `rest` under `/repos/OWNER/REPO`.
    pub(crate) fn repo_url(&self, rest: &str) -> Result<Url, ExecError> {
        self.client
            .url(&format!("/repos/{}{rest}", self.target.repo))
    }

    pub(crate) fn poll_every(&self) -> Duration {
        Duration::from_secs(self.target.poll_seconds.max(1))
    }
}

/// The `rel="next"` URL of a `link` header.
pub(crate) fn next_link(answer: &Answer) -> Option<String> {
    let link = answer.headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_link(link: &str) -> Answer {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("link", link.parse().unwrap());
        Answer {
            status: 200,
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn the_next_page_is_the_one_github_names() {
        let a = with_link(
            "<https://api.github.com/repositories/1/actions/runs?page=1>; rel=\"prev\", \
             <https://api.github.com/repositories/1/actions/runs?page=3>; rel=\"next\", \
             <https://api.github.com/repositories/1/actions/runs?page=9>; rel=\"last\"",
        );
        assert_eq!(
            next_link(&a).as_deref(),
            Some("https://api.github.com/repositories/1/actions/runs?page=3")
        );
        let last = with_link("<https://api.github.com/x?page=1>; rel=\"first\"");
        assert_eq!(next_link(&last), None);
    }
}
