//! Roles, logins, sessions and the request guards, enforced by the server.

use std::sync::Arc;

use qcity_types::Me;
use qcity_types::RunnerStatus;
use qcity_types::{AuditEntry, EventPage};

use crate::support::{As, Req, serve, session_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_states_and_health_but_no_logs_audit_or_controls() {
    let s = serve().await;
    let viewer = s.user_session("vera", "viewer", "viewer-pass-1").await;
    let v = As::Session(&viewer);

    let me: Me = s.send(Req::new("GET", "/api/v1/auth/me", v)).await.json();
    assert_eq!((me.user.as_str(), me.role.as_str()), ("vera", "viewer"));
    let r = s.send(Req::new("GET", "/api/v1/runners", v)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let runners: Vec<RunnerStatus> = r.json();
    assert_eq!(runners[0].name, "echo");
    for (method, path) in [
        ("POST", "/api/v1/runners/echo/stop"),
        ("POST", "/api/v1/runners/echo/restart"),
        ("GET", "/api/v1/runners/echo/logs"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/reload"),
        ("GET", "/api/v1/users"),
    ] {
        let r = s.send(Req::new(method, path, v)).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden".into()),
            "{method} {path}"
        );
    }
    // The refused stop did nothing.
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo").await;
    assert_eq!(st.state.name(), "running");
    // Events: states yes, controls and logins no.
    s.ok::<serde_json::Value>("POST", "/api/v1/runners/echo/restart")
        .await;
    let page: EventPage = s
        .send(Req::new("GET", "/api/v1/events?limit=1000", v))
        .await
        .json();
    assert!(page.events.iter().any(|e| e.kind.name() == "runner-state"));
    assert!(
        page.events
            .iter()
            .all(|e| !["control", "auth", "config-applied", "engine-started"]
                .contains(&e.kind.name())),
        "{:?}",
        page.events
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>()
    );
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_logs_in_with_the_token_and_every_login_and_control_is_audited() {
    let s = serve().await;
    let r = s
        .send(
            Req::new("POST", "/api/v1/auth/login", As::Nobody)
                .json(serde_json::json!({"token": s.token.expose()})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let master = session_of(&r);
    let m = As::Session(&master);
    // Same-origin writes pass; another site's are refused.
    let own = format!("http://{}", s.host());
    let r = s
        .send(Req::new("POST", "/api/v1/runners/echo/restart", m).header("Origin", own))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .send(
            Req::new("POST", "/api/v1/runners/echo/stop", m)
                .header("Origin", "http://evil.example"),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "foreign_origin".into()));
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo").await;
    assert_eq!(
        st.state.name(),
        "running",
        "the cross-site stop did nothing"
    );

    let r = s.send(Req::new("POST", "/api/v1/auth/logout", m)).await;
    assert_eq!(r.status, 204);
    let r = s.send(Req::new("GET", "/api/v1/runners", m)).await;
    assert_eq!(r.status, 401, "a logged-out session is dead");

    let audit: Vec<AuditEntry> = s.ok("GET", "/api/v1/audit?n=1000").await;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    for want in [
        ("master", "auth.login"),
        ("master:master", "control.restart"),
        ("master", "auth.logout"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_even_with_the_token() {
    let s = serve().await;
    let r = s
        .send(
            Req::new("GET", "/api/v1/runners", As::Bearer(s.token.expose()))
                .header("Host", "evil.example"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "host_not_allowed".into()),
        "{}",
        r.body
    );
    let r = s
        .send(
            Req::new("GET", "/api/v1/runners", As::Bearer(s.token.expose()))
                .header("Host", format!("localhost:{}", s.addr.port())),
        )
        .await;
    assert_eq!(r.status, 200);
    s.engine.shutdown("test").await;
}

fn wrong_password<'a>(from: &str) -> Req<'a> {
    Req::new("POST", "/api/v1/auth/login", As::Nobody)
        .json(serde_json::json!({"user": "ann", "password": "wrong"}))
        .from(from)
}

/// Five failures a minute per client, and every loopback address is one client: rotating the
/// source over 127.0.0.0/8 gets no more tries (issue 16 #3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_and_loopback_addresses_are_one_client() {
    let s = serve().await;
    s.user_session("ann", "master", "right-password").await;
    let mut answers = Vec::new();
    for i in 0..60 {
        let from = format!("127.0.0.{}", 2 + i % 12);
        let r = s.send(wrong_password(&from)).await;
        answers.push((r.status, r.code()));
    }
    let tried = answers.iter().filter(|a| a.0 == 401).count();
    assert_eq!(tried, 5, "{answers:?}");
    assert!(
        answers[5..]
            .iter()
            .all(|a| *a == (429, "too_many_attempts".into())),
        "{answers:?}"
    );
    // Even the right password waits: the limit is on the client.
    let r = s
        .send(
            Req::new("POST", "/api/v1/auth/login", As::Nobody)
                .json(serde_json::json!({"user": "ann", "password": "right-password"}))
                .from("127.0.0.99"),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    s.engine.shutdown("test").await;
}

/// A hundred wrong logins at once from one client: the limit is taken before any password is
/// hashed, so five are tried and the rest wait (issue 16 #3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failed_logins_do_not_race_past_the_limit() {
    let s = Arc::new(serve().await);
    s.user_session("ann", "master", "right-password").await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.send(wrong_password("127.0.0.1")).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 95);
    s.engine.shutdown("test").await;
}

/// Ten failures for one user within 15 minutes revoke its sessions, whoever made them. (The
/// clients here are not loopback, so that ten fit in a minute: the router is called directly,
/// as a proxy in front of it would be.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failures_for_one_user_revoke_its_sessions() {
    use tower::ServiceExt;
    let s = serve().await;
    s.user_session("ann", "master", "right-password").await;
    let router = qcity_api::router(
        qcity_api::Services {
            engine: s.engine.clone(),
            healer: s.healer.clone(),
            notify: None,
            platforms: None,
            updater: None,
            offload: None,
        },
        s.token.clone(),
    )
    .unwrap();
    let call = |req: axum::http::Request<axum::body::Body>, from: [u8; 4]| {
        let router = router.clone();
        let mut req = req;
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                from, 40000,
            ))));
        async move { router.oneshot(req).await.unwrap() }
    };
    let login = |password: &str| {
        axum::http::Request::post("/api/v1/auth/login")
            .header("Content-Type", "application/json")
            .body(axum::body::Body::from(format!(
                r#"{{"user": "ann", "password": "{password}"}}"#
            )))
            .unwrap()
    };
    let resp = call(login("right-password"), [192, 0, 2, 9]).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let runners = || {
        axum::http::Request::get("/api/v1/runners")
            .header("Cookie", cookie.clone())
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(call(runners(), [192, 0, 2, 9]).await.status(), 200);
    for i in 0..10u8 {
        let resp = call(login("wrong"), [192, 0, 2, 10 + i / 5]).await;
        assert_eq!(resp.status(), 401, "failure {i}");
    }
    assert_eq!(
        call(runners(), [192, 0, 2, 9]).await.status(),
        401,
        "ten failures revoked ann's sessions"
    );
    s.engine.wait_durable(s.engine.bus().next_id() - 1).await;
    let audit = s.engine.audit_tail(1000).unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.action == "auth.login-failed")
            .count(),
        10
    );
    assert!(
        audit.iter().any(|r| r.action == "auth.revoked"
            && r.target == "ann"
            && r.detail.contains("session(s) of ann revoked")),
        "{audit:?}"
    );
    s.engine.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_presented_from_a_non_loopback_address_is_replaced() {
    use tower::ServiceExt;
    let s = serve().await;
    let router = qcity_api::router(
        qcity_api::Services {
            engine: s.engine.clone(),
            healer: s.healer.clone(),
            notify: None,
            platforms: None,
            updater: None,
            offload: None,
        },
        s.token.clone(),
    )
    .unwrap();
    let mut req = axum::http::Request::get("/api/v1/runners")
        .header("Authorization", format!("Bearer {}", s.token.expose()))
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 7],
            40000,
        ))));
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 401);
    let token_file = s.engine.data_dir().token();
    let new = qcity_api::Token::load(&token_file).unwrap();
    assert_ne!(
        new.expose(),
        s.token.expose(),
        "the token file holds a new token"
    );
    let mut req = axum::http::Request::get("/api/v1/runners")
        .header("Authorization", format!("Bearer {}", s.token.expose()))
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    let resp = router.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 401, "the old token no longer works");
    s.engine.wait_durable(s.engine.bus().next_id() - 1).await;
    let rows = s.engine.audit_tail(100).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.action == "auth.revoked" && r.detail.contains("192.0.2.7")),
        "{rows:?}"
    );
    s.engine.shutdown("test").await;
}

/// Another web app on localhost (a dev server on :3000, a page on :8080) is another origin but
/// the same site: the browser sends the master's session cookie along with its requests. None
/// of them may act (issue 16 #1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_on_other_local_ports_cannot_act_with_the_masters_session() {
    let s = serve().await;
    s.wait_running("echo").await;
    let r = s
        .send(
            Req::new("POST", "/api/v1/auth/login", As::Nobody)
                .json(serde_json::json!({"token": s.token.expose()})),
        )
        .await;
    let master = session_of(&r);
    let m = As::Session(&master);
    let other_port = format!("http://127.0.0.1:{}", s.addr.port() + 1);
    for origin in [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        other_port.as_str(),
    ] {
        let r = s
            .send(Req::new("POST", "/api/v1/runners/echo/stop", m).header("Origin", origin))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "foreign_origin".into()),
            "{origin}"
        );
        let r = s
            .send(
                Req::new("PUT", "/api/v1/users/mallory", m)
                    .header("Origin", origin)
                    .json(serde_json::json!({"role": "master", "password": "mallory-pass"})),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "foreign_origin".into()),
            "{origin}"
        );
    }
    // A cookie without an Origin, and a same-site fetch, are not the dashboard either.
    let r = s
        .send(Req::new("POST", "/api/v1/runners/echo/stop", m).without_origin())
        .await;
    assert_eq!((r.status, r.code()), (403, "foreign_origin".into()));
    let r = s
        .send(
            Req::new("POST", "/api/v1/runners/echo/stop", m).header("Sec-Fetch-Site", "same-site"),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "foreign_origin".into()));
    let st: RunnerStatus = s.ok("GET", "/api/v1/runners/echo").await;
    assert_eq!(st.state.name(), "running", "no refused stop did anything");
    let users: Vec<qcity_types::UserInfo> = s.ok("GET", "/api/v1/users").await;
    assert!(users.iter().all(|u| u.name != "mallory"), "{users:?}");
    // The dashboard's own origin (the Host it talks to, port included) acts.
    let r = s
        .send(
            Req::new("POST", "/api/v1/runners/echo/restart", m)
                .header("Origin", format!("http://{}", s.host())),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.engine.shutdown("test").await;
}

/// Two `Host` headers, an allowed one first: refused (issue 16 #2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_two_host_headers_is_refused() {
    let s = serve().await;
    let r = s
        .send(
            Req::new("GET", "/api/v1/runners", As::Bearer(s.token.expose()))
                .header("Host", s.host())
                .header("Host", "evil.example"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "host_not_allowed".into()),
        "{}",
        r.body
    );
    s.engine.shutdown("test").await;
}

/// A password has at most 1024 characters, and a body over the API's limit is a 413, not a
/// 400 (issue 16 #10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_password_is_refused_and_a_huge_body_is_too_large() {
    let s = serve().await;
    let huge = "x".repeat(1 << 20);
    let r = s
        .send(
            Req::new("PUT", "/api/v1/users/ann", As::Bearer(s.token.expose()))
                .json(serde_json::json!({"role": "viewer", "password": huge})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_request".into()),
        "{}",
        r.body
    );
    assert!(r.body.contains("8 to 1024 characters"), "{}", r.body);
    let r = s
        .send(
            Req::new("POST", "/api/v1/auth/login", As::Nobody)
                .json(serde_json::json!({"user": "ann", "password": "x".repeat(3 << 20)})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large".into()),
        "{}",
        r.body
    );
    s.engine.shutdown("test").await;
}
