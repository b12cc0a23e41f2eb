//! The platforms QCity knows the status page of: where it is, in which format, which icon
//! the dashboard shows, and which runner kinds depend on it. The ids are the config's
//! (`qcity_config::BUILTIN_PLATFORMS`).

use qcity_config::{PlatformProvider, PlatformSettings};

/// One status page to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub id: String,
    pub name: String,
    pub provider: PlatformProvider,
    /// The machine-readable endpoint.
    pub url: String,
    /// The page for people.
    pub page: String,
    /// The icon's simple-icons slug.
    pub icon: Option<String>,
}

struct Builtin {
    id: &'static str,
    name: &'static str,
    provider: PlatformProvider,
    url: &'static str,
    page: &'static str,
    icon: Option<&'static str>,
}

/// Each vendor's machine-readable status endpoint, as its status page publishes it.
const BUILTIN: [Builtin; 10] = [
    Builtin {
        id: "github",
        name: "GitHub",
        provider: PlatformProvider::Statuspage,
        url: "https://www.githubstatus.com/api/v2/summary.json",
        page: "https://www.githubstatus.com",
        icon: Some("github"),
    },
    Builtin {
        id: "gitlab",
        name: "GitLab",
        // Status.io, not Statuspage: status.gitlab.com has no /api/v2.
        provider: PlatformProvider::StatusIo,
        url: "https://status-api.hostedstatus.com/1.0/status/5b36dc6502d06804c08349f7",
        page: "https://status.gitlab.com",
        icon: Some("gitlab"),
    },
    Builtin {
        id: "vercel",
        name: "Vercel",
        provider: PlatformProvider::Statuspage,
        url: "https://www.vercel-status.com/api/v2/summary.json",
        page: "https://www.vercel-status.com",
        icon: Some("vercel"),
    },
    Builtin {
        id: "netlify",
        name: "Netlify",
        provider: PlatformProvider::Statuspage,
        url: "https://www.netlifystatus.com/api/v2/summary.json",
        page: "https://www.netlifystatus.com",
        icon: Some("netlify"),
    },
    Builtin {
        id: "huggingface",
        name: "Hugging Face",
        provider: PlatformProvider::BetterStack,
        url: "https://status.huggingface.co/index.json",
        page: "https://status.huggingface.co",
        icon: Some("huggingface"),
    },
    Builtin {
        id: "gitpod",
        name: "Gitpod",
        provider: PlatformProvider::Statuspage,
        url: "https://www.gitpodstatus.com/api/v2/summary.json",
        page: "https://www.gitpodstatus.com",
        icon: Some("gitpod"),
    },
    Builtin {
        id: "aws",
        name: "AWS",
        provider: PlatformProvider::Aws,
        url: "https://health.aws.amazon.com/public/currentevents",
        page: "https://health.aws.amazon.com/health/status",
        icon: None,
    },
    Builtin {
        id: "gcp",
        name: "Google Cloud",
        provider: PlatformProvider::Gcp,
        url: "https://status.cloud.google.com/incidents.json",
        page: "https://status.cloud.google.com",
        icon: Some("googlecloud"),
    },
    Builtin {
        id: "azure",
        name: "Azure",
        provider: PlatformProvider::Azure,
        url: "https://azure.status.microsoft/en-us/status/feed/",
        page: "https://azure.status.microsoft/en-us/status",
        icon: None,
    },
    Builtin {
        id: "digitalocean",
        name: "DigitalOcean",
        provider: PlatformProvider::Statuspage,
        url: "https://status.digitalocean.com/api/v2/summary.json",
        page: "https://status.digitalocean.com",
        icon: Some("digitalocean"),
    },
];

/// The platforms `settings` watch: the built-ins it names (all when it names none), each
/// replaced by a custom page of the same id, then the other custom pages. None when off.
pub fn watched(settings: &PlatformSettings) -> Vec<Platform> {
    if !settings.enabled {
        return Vec::new();
    }
    let wanted = |id: &str| {
        settings
            .watch
            .as_ref()
            .is_none_or(|w| w.iter().any(|x| x == id))
    };
    let mut out: Vec<Platform> = BUILTIN
        .iter()
        .filter(|b| wanted(b.id))
        .map(|b| Platform {
            id: b.id.into(),
            name: b.name.into(),
            provider: b.provider,
            url: b.url.into(),
            page: b.page.into(),
            icon: b.icon.map(Into::into),
        })
        .collect();
    for c in &settings.custom {
        let page = c
            .url
            .split_once("/api/")
            .map_or(c.url.as_str(), |(base, _)| base)
            .to_string();
        match out.iter_mut().find(|p| p.id == c.id) {
            Some(p) => {
                p.provider = c.provider;
                p.url = c.url.clone();
                p.page = page;
                if let Some(name) = &c.name {
                    p.name = name.clone();
                }
            }
            None if settings.watch.is_none() || wanted(&c.id) => out.push(Platform {
                id: c.id.clone(),
                name: c.name.clone().unwrap_or_else(|| c.id.clone()),
                provider: c.provider,
                url: c.url.clone(),
                page,
                icon: None,
            }),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_exactly_the_configs_ids() {
        let ids: Vec<&str> = BUILTIN.iter().map(|b| b.id).collect();
        assert_eq!(ids, qcity_config::BUILTIN_PLATFORMS);
    }

    #[test]
    fn watch_custom_and_off() {
        let mut s = PlatformSettings::default();
        assert_eq!(watched(&s).len(), 10);
        s.watch = Some(vec!["github".into(), "acme".into()]);
        s.custom = vec![
            qcity_config::CustomPlatform {
                id: "github".into(),
                name: None,
                provider: PlatformProvider::Statuspage,
                url: "http://127.0.0.1:9/api/v2/summary.json".into(),
            },
            qcity_config::CustomPlatform {
                id: "acme".into(),
                name: Some("ACME CI".into()),
                provider: PlatformProvider::StatusIo,
                url: "https://status.acme.test/1.0/status/x".into(),
            },
        ];
        let w = watched(&s);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].id.as_str(), w[0].name.as_str()), ("github", "GitHub"));
        assert_eq!(w[0].url, "http://127.0.0.1:9/api/v2/summary.json");
        assert_eq!(w[0].page, "http://127.0.0.1:9");
        assert_eq!(w[1].name, "ACME CI");
        s.watch = Some(Vec::new());
        assert!(watched(&s).is_empty(), "an empty list watches nothing");
        s.enabled = false;
        s.watch = None;
        assert!(watched(&s).is_empty());
    }
}
