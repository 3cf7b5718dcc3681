//! Caller authentication for the agent's API, as kube-rbac-proxy does it:
//! the bearer token is checked with a TokenReview, then the user it names
//! is checked with a SubjectAccessReview for `get` on the requested path
//! under [`REVIEW_PREFIX`] (a non-resource URL). Results are cached briefly (per token and path) so
//! an aggregator polling every 30 s costs the API server two requests per
//! agent per cache lifetime, not per poll.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::Client;
use serde::Deserialize;
use serde_json::json;

/// The agent asks whether the caller may `get` `/cnictl-agent/api/v1/node`,
/// not `/api/v1/node`: every Kubernetes cluster's default
/// `system:discovery` ClusterRole grants `get` on the non-resource URLs
/// `/api/*` and `/apis/*` to all authenticated users (any pod's service
/// account), so a review of the served path itself admits everyone. The
/// prefix names URLs no default role grants (agent/tests/apiserver_live.rs
/// shows both against a real API server); deploy/'s RBAC grants these.
pub const REVIEW_PREFIX: &str = "/cnictl-agent";

/// How long an answer is reused. Denials are cached shorter so a fixed
/// RoleBinding takes effect quickly.
#[derive(Debug, Clone, Copy)]
pub struct CacheTtl {
    pub allowed: Duration,
    pub denied: Duration,
}

impl Default for CacheTtl {
    fn default() -> Self {
        CacheTtl {
            allowed: Duration::from_secs(60),
            denied: Duration::from_secs(10),
        }
    }
}

/// Beyond this many cached answers the cache is cleared: it is a
/// shortcut, not a store, and must not grow with hostile callers.
const MAX_CACHED: usize = 1024;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No or unknown token (401).
    Unauthenticated,
    /// A valid user without the permission (403).
    Forbidden,
    /// The API could not answer (503): never cached.
    Unavailable,
}

impl Verdict {
    /// Bounded label for `cnictl_agent_auth_total{result}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Unauthenticated => "unauthenticated",
            Verdict::Forbidden => "forbidden",
            Verdict::Unavailable => "unavailable",
        }
    }
}

/// Checks tokens against the API, with a cache.
pub struct Authenticator {
    client: Client,
    ttl: CacheTtl,
    cache: Mutex<HashMap<(String, String), (Verdict, Instant)>>,
}

impl Authenticator {
    pub fn new(client: Client, ttl: CacheTtl) -> Self {
        Authenticator {
            client,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// May the holder of `token` `get` `path`?
    pub async fn check(&self, token: &str, path: &str) -> Verdict {
        let key = (token.to_string(), path.to_string());
        if let Some(v) = self.cached(&key) {
            return v;
        }
        let verdict = self.ask(token, path).await;
        self.remember(key, verdict);
        verdict
    }

    fn cached(&self, key: &(String, String)) -> Option<Verdict> {
        let cache = self.cache.lock().ok()?;
        let (verdict, until) = cache.get(key)?;
        (Instant::now() < *until).then_some(*verdict)
    }

    fn remember(&self, key: (String, String), verdict: Verdict) {
        let ttl = match verdict {
            Verdict::Allowed => self.ttl.allowed,
            Verdict::Unavailable => return,
            Verdict::Unauthenticated | Verdict::Forbidden => self.ttl.denied,
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key, (verdict, Instant::now() + ttl));
        }
    }

    async fn ask(&self, token: &str, path: &str) -> Verdict {
        let user = match self.token_review(token).await {
            Ok(Some(user)) => user,
            Ok(None) => return Verdict::Unauthenticated,
            Err(()) => return Verdict::Unavailable,
        };
        match self.access_review(&user, path).await {
            Ok(true) => Verdict::Allowed,
            Ok(false) => Verdict::Forbidden,
            Err(()) => Verdict::Unavailable,
        }
    }

    /// The user behind `token`, `None` when the API does not know it.
    async fn token_review(&self, token: &str) -> Result<Option<UserInfo>, ()> {
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        });
        let reply: TokenReview = self
            .post("/apis/authentication.k8s.io/v1/tokenreviews", &body)
            .await?;
        Ok(match reply.status {
            Some(TokenStatus {
                authenticated: true,
                user: Some(user),
            }) => Some(user),
            _ => None,
        })
    }

    async fn access_review(&self, user: &UserInfo, path: &str) -> Result<bool, ()> {
        let body = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.username,
                "uid": user.uid,
                "groups": user.groups,
                "extra": user.extra,
                "nonResourceAttributes": {"path": format!("{REVIEW_PREFIX}{path}"), "verb": "get"},
            },
        });
        let reply: AccessReview = self
            .post("/apis/authorization.k8s.io/v1/subjectaccessreviews", &body)
            .await?;
        Ok(reply.status.is_some_and(|s| s.allowed))
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        uri: &str,
        body: &serde_json::Value,
    ) -> Result<T, ()> {
        let request = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|_| ())?;
        let call = self.client.request::<T>(request);
        match tokio::time::timeout(Duration::from_secs(10), call).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(()),
        }
    }
}

#[derive(Deserialize)]
struct TokenReview {
    status: Option<TokenStatus>,
}

#[derive(Deserialize)]
struct TokenStatus {
    #[serde(default)]
    authenticated: bool,
    user: Option<UserInfo>,
}

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    extra: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct AccessReview {
    status: Option<AccessStatus>,
}

#[derive(Deserialize)]
struct AccessStatus {
    #[serde(default)]
    allowed: bool,
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(value: Option<&http::HeaderValue>) -> Option<&str> {
    let v = value?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
