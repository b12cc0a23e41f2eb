//! Who is asking, and what they may do: enforced here, on the server, for every request.
//!
//! - **Master**: the local token (`Authorization: Bearer`, the CLI and the tray app), or a
//!   dashboard login as a user with the master role (a password set with `qcity user passwd`,
//!   or the token itself, exchanged for a session).
//! - **Viewer**: users the master creates; runner states and health only.
//!
//! Browsers get a session id in an `HttpOnly; SameSite=Strict` cookie; the store keeps only
//! its SHA-256. Failed logins are limited per client address, and a user who keeps failing
//! loses every session. A valid token sent from a non-loopback address is rotated at once.
//! Requests naming a host that is not ours (DNS rebinding) and state-changing requests from a
//! foreign origin (CSRF) are refused before anything else.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use qcity_engine::Engine;
use qcity_platform::clock::now_ms;
use qcity_store::{SessionRow, Store, UserRow};
use qcity_types::{AuthAction, ErrorCode, EventKind, LoginRequest, Me, PutUser, Role, UserInfo};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::token::Token;

pub const SESSION_COOKIE: &str = "qcity_session";

/// Failed logins from one address within a minute before it must wait.
const MAX_FAILURES_PER_MINUTE: usize = 5;
/// The longest password taken: hashing a megabyte of it is work nobody needs to give us.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Failed logins for one user within 15 minutes that revoke all of its sessions.
const MAX_USER_FAILURES: usize = 10;
const USER_WINDOW_MS: i64 = 15 * 60_000;

/// Whether `role` may see an event of `kind` in the stream and pages: a viewer sees runner
/// states and health and the platforms' status, no controls, logs, audit, config or tasks.
pub fn may_see(role: Role, kind: &EventKind) -> bool {
    role == Role::Master
        || matches!(
            kind,
            EventKind::RunnerState { .. }
                | EventKind::RunnerActivity { .. }
                | EventKind::ProbeChanged { .. }
                | EventKind::ResourceChanged { .. }
                | EventKind::PlatformChanged { .. }
        )
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub role: Role,
    /// The user, or `token` for the local token.
    pub user: String,
    /// The session, when the request came with a cookie.
    pub session: Option<String>,
}

impl Principal {
    /// Who acts, as the audit log records it: `master:cli` (token, with the client's own
    /// name) or `master:alice` (a dashboard user).
    pub fn actor(&self, headers: &HeaderMap) -> String {
        if self.session.is_some() {
            return format!("{}:{}", self.role.as_str(), self.user);
        }
        let client: String = headers
            .get(crate::CLIENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("api")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(32)
            .collect();
        let client = if client.is_empty() {
            "api".into()
        } else {
            client
        };
        format!("{}:{client}", self.role.as_str())
    }
}

#[derive(Debug, Clone)]
struct Live {
    user: String,
    role: Role,
    expires_ms: i64,
}

/// Sessions (cached in memory, kept in the store), the token, and the failure counters.
pub struct Auth {
    engine: Arc<Engine>,
    token: Mutex<Token>,
    store: Mutex<Store>,
    sessions: Mutex<HashMap<String, Live>>,
    failures_by_ip: Mutex<HashMap<IpAddr, VecDeque<i64>>>,
    failures_by_user: Mutex<HashMap<String, VecDeque<i64>>>,
    allowed_hosts: Vec<String>,
    ttl_ms: i64,
}

impl Auth {
    pub fn new(engine: Arc<Engine>, token: Token) -> Result<Auth, ApiError> {
        let config = engine.config();
        let mut store = Store::open(&engine.data_dir().db()).map_err(ApiError::from)?;
        let sessions = store
            .sessions_live(now_ms())
            .map_err(ApiError::from)?
            .into_iter()
            .filter_map(|s| {
                let role = Role::parse(&s.role)?;
                Some((
                    s.id_hash,
                    Live {
                        user: s.user,
                        role,
                        expires_ms: s.expires_ms,
                    },
                ))
            })
            .collect();
        let mut allowed_hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]", "::1"]
            .into_iter()
            .map(String::from)
            .collect();
        allowed_hosts.push(config.device.api.host.to_ascii_lowercase());
        allowed_hosts.extend(
            config
                .device
                .api
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase()),
        );
        Ok(Auth {
            engine,
            token: Mutex::new(token),
            store: Mutex::new(store),
            sessions: Mutex::new(sessions),
            failures_by_ip: Mutex::new(HashMap::new()),
            failures_by_user: Mutex::new(HashMap::new()),
            allowed_hosts,
            ttl_ms: i64::from(config.device.api.session_hours) * 3_600_000,
        })
    }

    fn token_matches(&self, presented: &str) -> bool {
        lock(&self.token).matches(presented)
    }

    /// The caller, from the bearer token or the session cookie.
    fn principal(&self, headers: &HeaderMap) -> Option<Principal> {
        if let Some(t) = bearer(headers) {
            return self.token_matches(t).then(|| Principal {
                role: Role::Master,
                user: "token".into(),
                session: None,
            });
        }
        let id = cookie(headers, SESSION_COOKIE)?;
        let hash = sha256_hex(id);
        let mut sessions = lock(&self.sessions);
        let live = sessions.get(&hash)?.clone();
        if live.expires_ms <= now_ms() {
            sessions.remove(&hash);
            return None;
        }
        Some(Principal {
            role: live.role,
            user: live.user,
            session: Some(hash),
        })
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let mut hosts = headers.get_all(header::HOST).iter();
        // Non-browser clients may omit Host (HTTP/1.0); browsers always send it.
        let Some(host) = hosts.next() else {
            return true;
        };
        // Two Host headers: which one a proxy or a check reads is anybody's guess.
        if hosts.next().is_some() {
            return false;
        }
        host.to_str().is_ok_and(|h| self.listed(h))
    }

    /// Whether `host[:port]` names one of our hosts.
    fn listed(&self, host: &str) -> bool {
        self.allowed_hosts
            .contains(&strip_port(host).to_ascii_lowercase())
    }

    /// Whether a state-changing request may come from where it says it comes from. Another
    /// port on localhost is another origin but the same *site*, so cookies (even
    /// `SameSite=Strict`) go along with its requests: a request with our session cookie must
    /// come from the dashboard's own origin (`http://` + the Host it was sent to, port
    /// included), and one that names another origin is refused whatever it carries.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| matches!(v.as_bytes(), b"cross-site" | b"same-site"))
        {
            return false;
        }
        match headers.get(header::ORIGIN) {
            // A browser names the origin of every state-changing request; a session cookie
            // without one did not come from our page. Token clients are not browsers.
            None => cookie(headers, SESSION_COOKIE).is_none(),
            Some(origin) => {
                let own = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| self.listed(h));
                match (
                    origin.to_str().ok().and_then(|o| o.strip_prefix("http://")),
                    own,
                ) {
                    (Some(from), Some(own)) => from.eq_ignore_ascii_case(own),
                    _ => false,
                }
            }
        }
    }

    /// Takes one login attempt for the client at `ip`: it counts as a failure from now, before
    /// any password is hashed, so concurrent attempts cannot all get past the limit; a
    /// success gives it back ([`Auth::forgive`]). A client over its limit must wait (`Err`
    /// with the seconds). Every loopback address is one client: the API listens on loopback
    /// only, and 127.0.0.0/8 is a whole range one process can bind.
    fn take_attempt(&self, ip: IpAddr) -> Result<(), u64> {
        let now = now_ms();
        let mut map = lock(&self.failures_by_ip);
        let q = map.entry(client_key(ip)).or_default();
        while q.front().is_some_and(|&t| now - t > 60_000) {
            q.pop_front();
        }
        if q.len() >= MAX_FAILURES_PER_MINUTE {
            let wait = 60_000 - (now - q.front().copied().unwrap_or(now));
            return Err((wait.max(1000) / 1000) as u64);
        }
        q.push_back(now);
        Ok(())
    }

    /// A login succeeded: its attempt was no failure.
    fn forgive(&self, ip: IpAddr) {
        if let Some(q) = lock(&self.failures_by_ip).get_mut(&client_key(ip)) {
            q.pop_back();
        }
    }

    /// A login failed (its attempt already counts for the client): tell, and count it for
    /// the user.
    fn record_failure(&self, ip: IpAddr, user: &str) {
        let now = now_ms();
        self.publish(
            user,
            AuthAction::LoginFailed,
            user,
            ip,
            "wrong user or password",
        );
        let over = {
            let mut map = lock(&self.failures_by_user);
            let q = map.entry(user.to_string()).or_default();
            q.push_back(now);
            while q.front().is_some_and(|&t| now - t > USER_WINDOW_MS) {
                q.pop_front();
            }
            let over = q.len() >= MAX_USER_FAILURES;
            if over {
                q.clear();
            }
            over
        };
        if over {
            let n = self.revoke_user(user);
            self.publish(
                "engine",
                AuthAction::Revoked,
                user,
                ip,
                &format!(
                    "{MAX_USER_FAILURES} failed logins within 15 minutes: {n} session(s) of {user} revoked"
                ),
            );
        }
    }

    /// Ends every session of `user`; returns how many there were.
    fn revoke_user(&self, user: &str) -> usize {
        let mut sessions = lock(&self.sessions);
        let before = sessions.len();
        sessions.retain(|_, s| s.user != user);
        let n = before - sessions.len();
        if let Err(e) = lock(&self.store).sessions_delete_user(user) {
            tracing::error!(error = %e, "cannot delete sessions from the store");
        }
        n
    }

    fn publish(&self, actor: &str, action: AuthAction, user: &str, ip: IpAddr, detail: &str) {
        self.engine.bus().publish(EventKind::Auth {
            actor: actor.to_string(),
            action,
            user: user.to_string(),
            client: ip.to_string(),
            detail: detail.to_string(),
        });
    }

    fn open_session(&self, user: &str, role: Role) -> Result<(String, i64), ApiError> {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let hash = sha256_hex(&id);
        let now = now_ms();
        let expires_ms = now + self.ttl_ms;
        lock(&self.store)
            .session_put(&SessionRow {
                id_hash: hash.clone(),
                user: user.to_string(),
                role: role.as_str().into(),
                created_ms: now,
                expires_ms,
            })
            .map_err(ApiError::from)?;
        lock(&self.sessions).insert(
            hash,
            Live {
                user: user.to_string(),
                role,
                expires_ms,
            },
        );
        Ok((id, expires_ms))
    }

    fn close_session(&self, hash: &str) {
        lock(&self.sessions).remove(hash);
        if let Err(e) = lock(&self.store).session_delete(hash) {
            tracing::error!(error = %e, "cannot delete a session from the store");
        }
    }
}

/// Rejects foreign hosts and cross-site writes before anything else runs.
pub async fn guard(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    if !auth.host_allowed(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::HostNotAllowed,
            "this server answers only to 127.0.0.1, localhost, [::1] and `api.allowed_hosts`",
        )
        .into_response();
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && !auth.origin_allowed(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::ForeignOrigin,
            "state-changing requests from another site are refused",
        )
        .into_response();
    }
    next.run(req).await
}

/// Finds the caller; API paths other than login need one.
pub async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // The API listens on loopback only: the token coming from elsewhere means it leaked
    // (a proxy, a tunnel). It is replaced at once; the master reads the new one from disk.
    if let (Some(ip), Some(t)) = (peer, bearer(req.headers()))
        && !ip.is_loopback()
        && auth.token_matches(t)
    {
        let path = auth.engine.data_dir().token();
        match Token::rotate(&path) {
            Ok(new) => *lock(&auth.token) = new,
            Err(e) => tracing::error!(error = %e, "cannot rotate the leaked token"),
        }
        auth.publish(
            "engine",
            AuthAction::Revoked,
            "token",
            ip,
            "the master token was presented from a non-loopback address; it was replaced",
        );
        return ApiError::unauthorized().into_response();
    }
    let path = req.uri().path();
    // The dashboard's own files are public; the API and the metrics are not.
    let public = path == "/api/v1/auth/login" || !(path.starts_with("/api/") || path == "/metrics");
    match auth.principal(req.headers()) {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None if public => next.run(req).await,
        None => {
            let mut resp = ApiError::unauthorized().into_response();
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
    }
}

/// The role a route needs; a viewer on a master route gets 403.
pub async fn authorize(
    State(need): State<Role>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let role = req.extensions().get::<Principal>().map(|p| p.role);
    match role {
        Some(role) if role >= need => Ok(next.run(req).await),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "this needs the master role; viewers see runner states and health only",
        )),
        None => Err(ApiError::unauthorized()),
    }
}

pub async fn login(
    State(auth): State<Arc<Auth>>,
    ClientIp(ip): ClientIp,
    body: Result<axum::Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(body) = body.map_err(|e| match e {
        // serde's "did not match any variant" says less than this.
        axum::extract::rejection::JsonRejection::JsonDataError(_) => {
            ApiError::bad_request("send {\"user\", \"password\"} or {\"token\"}")
        }
        e => ApiError::body(e),
    })?;
    if let Err(wait) = auth.take_attempt(ip) {
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!("too many failed logins from this address; try again in {wait} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(resp);
    }
    let (user, role) = match &body {
        LoginRequest::Token { token: t } => {
            if !auth.token_matches(t.trim()) {
                auth.record_failure(ip, "token");
                return Err(bad_credentials());
            }
            ("master".to_string(), Role::Master)
        }
        LoginRequest::Password { user, password } => {
            // No stored password is longer: a wrong one, without hashing it.
            let fits = password.chars().count() <= MAX_PASSWORD_CHARS;
            let role = match fits {
                true => verify_user(&auth, user.clone(), password.clone()).await?,
                false => None,
            };
            match role {
                Some(role) => (user.clone(), role),
                None => {
                    auth.record_failure(ip, user);
                    return Err(bad_credentials());
                }
            }
        }
    };
    auth.forgive(ip);
    let (id, expires_ms) = auth.open_session(&user, role)?;
    auth.publish(&user, AuthAction::Login, &user, ip, role.as_str());
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        auth.ttl_ms / 1000
    );
    let mut resp = axum::Json(Me {
        user,
        role,
        expires_ms: Some(expires_ms),
    })
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(resp)
}

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::BadCredentials,
        "wrong user or password",
    )
}

/// The user's role if the password is right. An unknown user costs the same hash as a
/// known one, so timing does not tell which names exist.
async fn verify_user(
    auth: &Auth,
    user: String,
    password: String,
) -> Result<Option<Role>, ApiError> {
    let row = lock(&auth.store)
        .user(&user)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let _permit = hashing().await;
    tokio::task::spawn_blocking(move || {
        let phc = row
            .as_ref()
            .map_or_else(|| DUMMY_HASH.to_string(), |r| r.phc.clone());
        let ok = PasswordHash::new(&phc).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        row.filter(|_| ok).and_then(|r| Role::parse(&r.role))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))
}

/// A valid hash of a random password, for unknown users.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(&hex::encode(rand::random::<[u8; 16]>())).unwrap_or_default()
});

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(e.to_string()))
}

pub async fn logout(
    State(auth): State<Arc<Auth>>,
    ClientIp(ip): ClientIp,
    axum::Extension(p): axum::Extension<Principal>,
) -> Response {
    if let Some(hash) = &p.session {
        auth.close_session(hash);
    }
    auth.publish(&p.user, AuthAction::Logout, &p.user, ip, "");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("qcity_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    resp
}

pub async fn me(axum::Extension(p): axum::Extension<Principal>) -> axum::Json<Me> {
    axum::Json(Me {
        user: p.user,
        role: p.role,
        expires_ms: None,
    })
}

pub async fn list_users(
    State(auth): State<Arc<Auth>>,
) -> Result<axum::Json<Vec<UserInfo>>, ApiError> {
    let rows = lock(&auth.store).users().map_err(ApiError::from)?;
    Ok(axum::Json(
        rows.into_iter()
            .filter_map(|u| {
                Some(UserInfo {
                    role: Role::parse(&u.role)?,
                    name: u.name,
                    created_ms: u.created_ms,
                })
            })
            .collect(),
    ))
}

/// Creates a user or sets its role and password; its sessions end (they carried the old role).
pub async fn put_user(
    State(auth): State<Arc<Auth>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Extension(p): axum::Extension<Principal>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: Result<axum::Json<PutUser>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<UserInfo>, ApiError> {
    let axum::Json(body) = body.map_err(ApiError::body)?;
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name || name == "token" {
        return Err(ApiError::bad_request(
            "user names are 1 to 64 letters, digits, `-`, `_` or `.` (and not `token`)",
        ));
    }
    let length = body.password.chars().count();
    if !(8..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(ApiError::bad_request(format!(
            "the password needs 8 to {MAX_PASSWORD_CHARS} characters (it has {length})"
        )));
    }
    let password = body.password;
    let _permit = hashing().await;
    let phc = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let created_ms = now_ms();
    lock(&auth.store)
        .user_put(&UserRow {
            name: name.clone(),
            role: body.role.as_str().into(),
            phc,
            created_ms,
        })
        .map_err(ApiError::from)?;
    auth.revoke_user(&name);
    auth.publish(
        &p.actor(&headers),
        AuthAction::UserSaved,
        &name,
        ip,
        body.role.as_str(),
    );
    Ok(axum::Json(UserInfo {
        name,
        role: body.role,
        created_ms,
    }))
}

pub async fn delete_user(
    State(auth): State<Arc<Auth>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Extension(p): axum::Extension<Principal>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let existed = lock(&auth.store)
        .user_delete(&name)
        .map_err(ApiError::from)?;
    if !existed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownUser,
            format!("no user named `{name}`"),
        ));
    }
    auth.revoke_user(&name);
    auth.publish(&p.actor(&headers), AuthAction::UserRemoved, &name, ip, "");
    Ok(StatusCode::NO_CONTENT)
}

/// The client's address (loopback when the server was not given connection info, as in
/// tests that call the router directly).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip()),
        ))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The client a failed login is counted for: the address, every loopback address as one.
fn client_key(ip: IpAddr) -> IpAddr {
    if ip.is_loopback() {
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    } else {
        ip
    }
}

/// Argon2id takes ~19 MiB for each hash it computes: at most two at a time, whatever the
/// number of logins or user changes in flight (a hundred at once took the daemon to 1.9 GiB).
async fn hashing() -> tokio::sync::SemaphorePermit<'static> {
    static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    HASHING
        .acquire()
        .await
        .expect("the semaphore is never closed")
}

/// `host:port`, `[v6]:port` or a bare host → the host as it appears in our allow-list.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(strip_port("127.0.0.1:7717"), "127.0.0.1");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("evil.example:7717"), "evil.example");
    }

    #[test]
    fn a_password_hash_verifies_only_its_password() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        let h = PasswordHash::new(&phc).unwrap();
        let a = argon2::Argon2::default();
        assert!(a.verify_password(b"correct horse", &h).is_ok());
        assert!(a.verify_password(b"correct horsE", &h).is_err());
    }
}
