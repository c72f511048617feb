//! The Office 365 Management Activity API, as Microsoft documents it: OAuth2 client credentials
//! (the token cached until shortly before it expires), `subscriptions/start` and `list`,
//! `subscriptions/content` in windows of at most 24 hours and no more than 7 days back,
//! following `NextPageUri`, and the content blobs themselves. `PublisherIdentifier` goes on
//! every call. Throttling (429, `AF429`) and server errors are retried with exponential backoff
//! and jitter; an expired token is refreshed once per call.
//!
//! Blocking (ureq): a puller runs on a thread of its own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ecs::date::Timestamp;
use serde_json::Value;

/// The Microsoft cloud a tenant lives in, which decides the login and API hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// Commercial and GCC (login.microsoftonline.com, manage.office.com).
    Commercial,
    /// GCC (manage-gcc.office.com).
    Gcc,
    /// GCC High (login.microsoftonline.us, manage.office365.us).
    GccHigh,
    /// DoD (login.microsoftonline.us, manage.protection.apps.mil).
    Dod,
}

impl Cloud {
    /// Reads `commercial`, `gcc`, `gcc-high` or `dod`.
    pub fn parse(text: &str) -> Option<Cloud> {
        Some(match text {
            "commercial" => Cloud::Commercial,
            "gcc" => Cloud::Gcc,
            "gcc-high" => Cloud::GccHigh,
            "dod" => Cloud::Dod,
            _ => return None,
        })
    }

    fn login(self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::GccHigh | Cloud::Dod => "https://login.microsoftonline.us",
        }
    }

    fn manage(self) -> &'static str {
        match self {
            Cloud::Commercial => "https://manage.office.com",
            Cloud::Gcc => "https://manage-gcc.office.com",
            Cloud::GccHigh => "https://manage.office365.us",
            Cloud::Dod => "https://manage.protection.apps.mil",
        }
    }
}

/// A secret (a client secret): its text never shows in `Debug` or `Display`, so it cannot end
/// up in a log or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret held in memory.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// Reads a secret from a file (trailing line breaks dropped), as secrets are mounted.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or is empty.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return Err(format!("{}: the secret file is empty", path.display()));
        }
        Ok(Secret(text.to_owned()))
    }

    /// The text, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How the application proves who it is.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A client secret.
    Secret(Secret),
    /// A certificate registered with the application, and its private key: each sign-in sends a
    /// JWT client assertion signed with the key (RS256, `x5t#S256` naming the certificate).
    Certificate {
        /// The certificate, DER.
        certificate: Vec<u8>,
        /// The RSA key pair (its `Debug` shows only the public half).
        key: std::sync::Arc<ring::signature::RsaKeyPair>,
    },
}

impl Credential {
    /// A certificate credential from PEM files: the certificate and its RSA private key
    /// (PKCS#8).
    ///
    /// # Errors
    ///
    /// Which file cannot be read, or holds no certificate or no PKCS#8 key.
    pub fn certificate(certificate: &Path, key: &Path) -> Result<Credential, String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
        let cert = CertificateDer::from_pem_file(certificate).map_err(|e| format!("{}: {e}", certificate.display()))?;
        let private = PrivatePkcs8KeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        let pair = ring::signature::RsaKeyPair::from_pkcs8(private.secret_pkcs8_der())
            .map_err(|e| format!("{}: not an RSA key to sign with: {e}", key.display()))?;
        Ok(Credential::Certificate { certificate: cert.to_vec(), key: std::sync::Arc::new(pair) })
    }

    /// The form fields that prove the application's identity to the token endpoint `audience`.
    fn form(&self, client_id: &str, audience: &str) -> Result<Vec<(&'static str, String)>, ApiError> {
        match self {
            Credential::Secret(secret) => Ok(vec![("client_secret", secret.expose().to_owned())]),
            Credential::Certificate { certificate, key } => {
                let assertion = client_assertion(certificate, key, client_id, audience)?;
                Ok(vec![
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
                    ("client_assertion", assertion),
                ])
            }
        }
    }
}

/// Where a tenant's credential comes from, as configured: a file or an environment variable
/// holding the client secret, or a certificate and its key. Names and paths only: the secret
/// itself is never part of a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialSource {
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// The environment variable holding the client secret; [`CredentialSource::DEFAULT_ENV`]
    /// when nothing else is given.
    pub client_secret_env: Option<String>,
    /// The certificate (PEM) and its RSA private key (PKCS#8 PEM).
    pub certificate: Option<(PathBuf, PathBuf)>,
}

impl CredentialSource {
    /// The variable read for the client secret when no other source is given.
    pub const DEFAULT_ENV: &str = "VIGIL_O365_CLIENT_SECRET";

    /// Reads the credential, taking variables from `env`.
    ///
    /// # Errors
    ///
    /// When more than one source is given, none holds a credential, or a file cannot be used.
    pub fn load(&self, env: impl Fn(&str) -> Option<String>) -> Result<Credential, String> {
        let given = [self.client_secret_file.is_some(), self.client_secret_env.is_some(), self.certificate.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err("give one credential: a client secret file, a client secret variable, or a certificate".into());
        }
        if let Some((certificate, key)) = &self.certificate {
            return Credential::certificate(certificate, key);
        }
        if let Some(path) = &self.client_secret_file {
            return Secret::from_file(path).map(Credential::Secret);
        }
        let var = self.client_secret_env.as_deref().unwrap_or(Self::DEFAULT_ENV);
        match env(var) {
            Some(text) if !text.is_empty() => Ok(Credential::Secret(Secret::new(text))),
            _ => Err(format!("no credential: {var} is not set, and no client secret file or certificate is given")),
        }
    }
}

/// A JWT client assertion, as Microsoft's identity platform documents it: RS256, the
/// certificate's SHA-256 thumbprint in `x5t#S256`, audience the token endpoint, issuer and
/// subject the client id, valid ten minutes.
fn client_assertion(
    certificate: &[u8],
    pair: &ring::signature::RsaKeyPair,
    client_id: &str,
    audience: &str,
) -> Result<String, ApiError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let thumbprint = b64(&sha2::Sha256::digest(certificate));
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": thumbprint});
    let now = Timestamp::now().as_millis() / 1000;
    let mut id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| ApiError::SignIn("no random bytes for the assertion".into()))?;
    let claims = serde_json::json!({"aud": audience, "iss": client_id, "sub": client_id, "jti": b64(&id),
        "nbf": now, "iat": now, "exp": now + 600});
    let signed = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature)
        .map_err(|_| ApiError::SignIn("could not sign the client assertion".into()))?;
    Ok(format!("{signed}.{}", b64(&signature)))
}

/// The content types of the Management Activity API, all pulled by default.
pub const CONTENT_TYPES: [&str; 5] =
    ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"];

/// One tenant to pull from.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The directory (tenant) id.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// How the application signs in: a client secret or a certificate.
    pub credential: Credential,
    /// Which cloud.
    pub cloud: Cloud,
    /// `PublisherIdentifier`: the tenant id unless told otherwise, so that throttling counts
    /// against this tenant's own quota.
    pub publisher: String,
    /// Where the token endpoint lives, instead of the cloud's (for tests and proxies).
    pub login_base: Option<String>,
    /// Where the API lives, instead of the cloud's.
    pub api_base: Option<String>,
}

/// One available content blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    /// `Audit.Exchange` and so on.
    pub content_type: String,
    /// Its identity.
    pub content_id: String,
    /// Where to fetch it.
    pub content_uri: String,
    /// When Microsoft made it available.
    pub created: Timestamp,
    /// When it stops being available.
    pub expiration: Option<Timestamp>,
}

/// What went wrong talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The network failed (the call is retried by the puller later).
    #[error("network: {0}")]
    Network(String),
    /// The API answered with an error that retries did not cure.
    #[error("{status} {code}: {message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// Microsoft's error code (`AF20022`...), when given.
        code: String,
        /// Microsoft's message.
        message: String,
    },
    /// The token endpoint refused the credentials.
    #[error("sign-in refused: {0}")]
    SignIn(String),
    /// The content blob has expired (`AF20051`): it is skipped.
    #[error("content expired")]
    Expired,
    /// An answer that is not what the API documents.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// A window the API refuses: longer than 24 hours, or starting more than 7 days ago.
    #[error("{0}")]
    Window(String),
    /// The pulled content could not be kept where it goes.
    #[error("pulled content not kept: {0}")]
    Sink(String),
}

/// How calls are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per call, the first one included.
    pub attempts: u32,
    /// The first wait; each retry waits twice as long, plus up to as much again at random.
    pub base: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry { attempts: 6, base: Duration::from_secs(2) }
    }
}

/// A client of one tenant's Management Activity API.
pub struct Client {
    tenant: Tenant,
    agent: ureq::Agent,
    token: Option<(String, Instant)>,
    retry: Retry,
    /// Content types whose subscription this client has started.
    started: std::collections::HashSet<String>,
    /// Calls retried because of throttling or server errors, and tokens refreshed early.
    pub retries: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("tenant", &self.tenant).field("retries", &self.retries).finish_non_exhaustive()
    }
}

/// Microsoft's error code and message from an error body.
fn error_of(body: &Value) -> (String, String) {
    let error = body.get("error").unwrap_or(body);
    let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    (text("code"), text("message"))
}

impl Client {
    /// A client for `tenant` that retries as `retry` says.
    pub fn new(tenant: Tenant, retry: Retry) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client { tenant, agent, token: None, retry, started: Default::default(), retries: 0 }
    }

    fn api_root(&self) -> String {
        let base = self.tenant.api_base.clone().unwrap_or_else(|| self.tenant.cloud.manage().to_owned());
        format!("{base}/api/v1.0/{}/activity/feed", self.tenant.tenant_id)
    }

    /// A token, from the cache unless it expires within five minutes.
    fn token(&mut self) -> Result<String, ApiError> {
        if let Some((token, expires)) = &self.token
            && Instant::now() + Duration::from_secs(300) < *expires
        {
            return Ok(token.clone());
        }
        let login = self.tenant.login_base.clone().unwrap_or_else(|| self.tenant.cloud.login().to_owned());
        let resource = self.tenant.api_base.clone().unwrap_or_else(|| self.tenant.cloud.manage().to_owned());
        let url = format!("{login}/{}/oauth2/v2.0/token", self.tenant.tenant_id);
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.tenant.client_id.clone()),
            ("scope", format!("{resource}/.default")),
        ];
        form.extend(self.tenant.credential.form(&self.tenant.client_id, &url)?);
        let fields = form.iter().map(|(k, v)| (*k, v.as_str()));
        let mut response = self.agent.post(&url).send_form(fields).map_err(|e| ApiError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().map_err(|e| ApiError::Malformed(e.to_string()))?;
        if status != 200 {
            let reason =
                body.get("error_description").or_else(|| body.get("error")).and_then(Value::as_str).unwrap_or("");
            return Err(ApiError::SignIn(format!("{status}: {reason}")));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::Malformed("no access_token".into()))?;
        let lifetime =
            body.get("expires_in").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())).unwrap_or(3600);
        self.token = Some((token.to_owned(), Instant::now() + Duration::from_secs(lifetime)));
        Ok(token.to_owned())
    }

    /// One call: `PublisherIdentifier` added, retried on throttling and server errors, the token
    /// refreshed once when it is refused. Returns the status, the `NextPageUri` header and the body.
    fn call(&mut self, post: bool, url: &str) -> Result<(u16, Option<String>, Value), ApiError> {
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}PublisherIdentifier={}", self.tenant.publisher);
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token()?;
            let request = |agent: &ureq::Agent| {
                let auth = format!("Bearer {token}");
                if post {
                    agent.post(&url).header("authorization", auth).send_empty()
                } else {
                    agent.get(&url).header("authorization", auth).call()
                }
            };
            let outcome = request(&self.agent);
            let (status, next, body) = match outcome {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let next = response.headers().get("NextPageUri").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
                    (status, next, body)
                }
                Err(_) if attempt < self.retry.attempts => {
                    self.retries += 1;
                    self.wait(attempt);
                    continue;
                }
                Err(err) => return Err(ApiError::Network(err.to_string())),
            };
            let (code, message) = error_of(&body);
            match status {
                200..=299 => return Ok((status, next, body)),
                401 if !refreshed => {
                    // An expired or revoked token: sign in again, once.
                    refreshed = true;
                    self.token = None;
                    self.retries += 1;
                }
                429 | 500..=599 if attempt < self.retry.attempts => {
                    self.retries += 1;
                    self.wait(attempt);
                }
                _ if code == "AF20051" => return Err(ApiError::Expired),
                _ => return Err(ApiError::Http { status, code, message }),
            }
        }
    }

    /// Waits before retry `attempt`: the base doubled each time, plus jitter up to as much.
    fn wait(&self, attempt: u32) {
        let backoff = self.retry.base.saturating_mul(1 << attempt.min(10).saturating_sub(1));
        let jitter = backoff.mul_f64(f64::from(Timestamp::now().as_nanos().rem_euclid(1000) as u32) / 1000.0);
        std::thread::sleep(backoff + jitter);
    }

    /// Starts the subscription to a content type; one already enabled is fine. Once started,
    /// a content type is not started again by this client.
    ///
    /// # Errors
    ///
    /// When the API refuses for another reason, or cannot be reached.
    pub fn start(&mut self, content_type: &str) -> Result<(), ApiError> {
        if self.started.contains(content_type) {
            return Ok(());
        }
        let url = format!("{}/subscriptions/start?contentType={content_type}", self.api_root());
        match self.call(true, &url) {
            // "The subscription is already enabled. No property change."
            Ok(_) => {}
            Err(ApiError::Http { code, .. }) if code == "AF20024" => {}
            Err(err) => return Err(err),
        }
        self.started.insert(content_type.to_owned());
        Ok(())
    }

    /// The subscriptions and their status (`enabled`, `disabled`).
    ///
    /// # Errors
    ///
    /// When the API refuses or cannot be reached, or answers something else than a list.
    pub fn subscriptions(&mut self) -> Result<Vec<(String, String)>, ApiError> {
        let url = format!("{}/subscriptions/list", self.api_root());
        let (_, _, body) = self.call(false, &url)?;
        let list = body.as_array().ok_or_else(|| ApiError::Malformed("subscriptions/list is not an array".into()))?;
        Ok(list
            .iter()
            .map(|s| {
                let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                (text("contentType"), text("status"))
            })
            .collect())
    }

    /// The content blobs of a type made available in `[start, end)`, every page of them.
    ///
    /// # Errors
    ///
    /// A window longer than 24 hours or starting more than 7 days before now; or what the API
    /// says.
    pub fn content(&mut self, content_type: &str, start: Timestamp, end: Timestamp) -> Result<Vec<Content>, ApiError> {
        const HOUR: i64 = 3_600_000_000_000;
        if end.as_nanos() - start.as_nanos() > 24 * HOUR || end <= start {
            return Err(ApiError::Window(format!("{start} .. {end}: windows are at most 24 hours long")));
        }
        if Timestamp::now().as_nanos() - start.as_nanos() > 7 * 24 * HOUR {
            return Err(ApiError::Window(format!("{start}: the API keeps content 7 days")));
        }
        let iso = |t: Timestamp| t.to_string().trim_end_matches('Z').split('.').next().unwrap_or("").to_owned();
        let mut url = format!(
            "{}/subscriptions/content?contentType={content_type}&startTime={}&endTime={}",
            self.api_root(),
            iso(start),
            iso(end)
        );
        let mut out = Vec::new();
        loop {
            let (_, next, body) = self.call(false, &url)?;
            let list =
                body.as_array().ok_or_else(|| ApiError::Malformed("subscriptions/content is not an array".into()))?;
            for item in list {
                let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
                let (Some(id), Some(uri), Some(created)) =
                    (text("contentId"), text("contentUri"), text("contentCreated"))
                else {
                    return Err(ApiError::Malformed(format!(
                        "a content entry lacks contentId, contentUri or contentCreated: {item}"
                    )));
                };
                let created = Timestamp::parse(&created, false)
                    .ok_or_else(|| ApiError::Malformed(format!("contentCreated `{created}` is not a date")))?;
                out.push(Content {
                    content_type: text("contentType").unwrap_or_else(|| content_type.to_owned()),
                    content_id: id,
                    content_uri: uri,
                    created,
                    expiration: text("contentExpiration").and_then(|t| Timestamp::parse(&t, false)),
                });
            }
            match next {
                // NextPageUri already carries the query; PublisherIdentifier is added again.
                Some(next) if !next.is_empty() => {
                    url = next.split("&PublisherIdentifier=").next().unwrap_or(&next).to_owned()
                }
                _ => return Ok(out),
            }
        }
    }

    /// The records of one content blob.
    ///
    /// # Errors
    ///
    /// [`ApiError::Expired`] for expired content; [`ApiError::Malformed`] when the blob is not a
    /// JSON array; or what the API says.
    pub fn fetch(&mut self, content: &Content) -> Result<Vec<Value>, ApiError> {
        let (_, _, body) = self.call(false, &content.content_uri)?;
        match body {
            Value::Array(records) => Ok(records),
            other => {
                Err(ApiError::Malformed(format!("blob {} is not a JSON array: {}", content.content_id, kind(&other))))
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null or not JSON",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What one pull did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Content blobs fetched.
    pub blobs: u64,
    /// Blobs listed that the sink had taken already, so not fetched again.
    pub skipped: u64,
    /// Records handed on.
    pub records: u64,
    /// Blobs skipped because they had expired.
    pub expired: u64,
    /// Listing windows the API refused (each is reported in `problems`).
    pub unlisted: u64,
    /// Blobs skipped because they were not a JSON array (each is reported in `problems`).
    pub malformed: u64,
    /// What went wrong, for people: malformed blobs, content types that could not be listed.
    pub problems: Vec<String>,
}

/// What a content blob turned out to hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Blob {
    /// Its records, as the API gave them (a record can be in more than one blob: see [`Seen`]).
    Records(Vec<Value>),
    /// The API says it has expired.
    Expired,
    /// Not a JSON array of records: why.
    Malformed(String),
}

/// Where a pull hands its content, and what it has already.
pub trait Sink {
    /// Whether this blob was taken by an earlier pull; it is not fetched again.
    fn taken(&mut self, _content: &Content) -> bool {
        false
    }

    /// One blob, fetched (or found expired or malformed). An error stops the pull; the blob is
    /// then not taken.
    ///
    /// # Errors
    ///
    /// When the sink cannot keep the records.
    fn blob(&mut self, content: &Content, blob: Blob) -> Result<(), String>;

    /// Every blob of `content_type` made available before `until` has been handed over.
    ///
    /// # Errors
    ///
    /// When the sink cannot keep the mark.
    fn listed(&mut self, _content_type: &str, _until: Timestamp) -> Result<(), String> {
        Ok(())
    }

    /// Whether the pull should stop early (asked before each blob).
    fn stopping(&self) -> bool {
        false
    }
}

/// Records handed on already, by `Id`: the API can deliver a record in more than one blob.
#[derive(Debug, Default)]
pub struct Seen(std::collections::HashSet<String>);

impl Seen {
    /// Whether this is the first record with its `Id` (a record without one always is).
    pub fn first(&mut self, record: &Value) -> bool {
        record.get("Id").and_then(Value::as_str).is_none_or(|id| self.0.insert(id.to_owned()))
    }
}

/// Pulls every blob of `content_types` made available in `[since, until)`: starts the
/// subscriptions, lists the content in windows of at most 24 hours, fetches each blob the sink
/// has not taken, and hands it over. After each window whose listing succeeded, and every earlier
/// one of that type, the sink hears that the content type is complete up to the window's end.
/// A window the API refuses to list is reported in `problems` and the next is tried.
///
/// # Errors
///
/// When signing in fails, a subscription cannot be started, the network stays down through the
/// retries, or the sink fails ([`ApiError::Sink`]).
pub fn pull(
    client: &mut Client,
    content_types: &[String],
    since: Timestamp,
    until: Timestamp,
    sink: &mut dyn Sink,
) -> Result<Pulled, ApiError> {
    const DAY: i64 = 86_400_000_000_000;
    let mut pulled = Pulled::default();
    for content_type in content_types {
        client.start(content_type)?;
        let mut start = since;
        let mut complete = true;
        while start < until {
            let end = Timestamp::from_nanos((start.as_nanos() + DAY).min(until.as_nanos()));
            let listed = match client.content(content_type, start, end) {
                Ok(listed) => listed,
                Err(ApiError::Http { status, code, message }) => {
                    pulled.unlisted += 1;
                    pulled.problems.push(format!("{content_type} {start} .. {end}: {status} {code}: {message}"));
                    complete = false;
                    start = end;
                    continue;
                }
                Err(err) => return Err(err),
            };
            for content in listed {
                if sink.stopping() {
                    return Ok(pulled);
                }
                if sink.taken(&content) {
                    pulled.skipped += 1;
                    continue;
                }
                let blob = match client.fetch(&content) {
                    Ok(records) => {
                        pulled.blobs += 1;
                        pulled.records += records.len() as u64;
                        Blob::Records(records)
                    }
                    Err(ApiError::Expired) => {
                        pulled.expired += 1;
                        Blob::Expired
                    }
                    Err(ApiError::Malformed(why)) => {
                        pulled.malformed += 1;
                        pulled.problems.push(why.clone());
                        Blob::Malformed(why)
                    }
                    Err(err) => return Err(err),
                };
                sink.blob(&content, blob).map_err(ApiError::Sink)?;
            }
            if complete {
                sink.listed(content_type, end).map_err(ApiError::Sink)?;
            }
            start = end;
        }
    }
    Ok(pulled)
}
