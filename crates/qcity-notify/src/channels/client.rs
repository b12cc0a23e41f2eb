//! The channels' HTTP client and the TLS provider they and lettre share.

use std::sync::OnceLock;
use std::time::Duration;

/// The one HTTP client of the remote channels, built on first use and shared (a
/// `reqwest::Client` is a handle on one connection pool).
///
/// rustls on ring (the process default, installed as the engine's probes do) with the
/// system's roots; 10 s to connect, 30 s for a whole request; `qcity/<version>` as its
/// User-Agent; redirects are not followed (a webhook URL that redirects is reported, not
/// chased to another host with the message). Proxies from the environment (`HTTPS_PROXY`,
/// `NO_PROXY`) are honoured, unlike the probes': these are internet services, and a host whose
/// only way out is a proxy must still reach them.
pub fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            install_crypto_provider();
            reqwest::Client::builder()
                .user_agent(concat!("qcity/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                // Only a TLS backend that cannot start fails here (no certificate or option
                // is read from the config), which every test run would show.
                .expect("the HTTP client of the notifier's channels cannot be built")
        })
        .clone()
}

/// reqwest and lettre are built without a crypto provider of their own: rustls' ring becomes
/// the process default (Err means one is installed already, which both then use).
pub(super) fn install_crypto_provider() {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
