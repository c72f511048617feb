//! The Management Activity API client against a local server that behaves as Microsoft
//! documents: sign-in, subscriptions already enabled, throttling, paging with NextPageUri, token
//! expiry, expired and malformed blobs, and PublisherIdentifier required on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ecs::date::Timestamp;
use o365::api::{ApiError, Blob, Client, Cloud, Credential, CredentialSource, Retry, Secret, Sink, Tenant};
use serde_json::json;

#[derive(Default)]
struct Seen {
    tokens: u32,
    started: u32,
    throttled: bool,
    blob_calls: u32,
    without_publisher: Vec<String>,
    bad_tokens: u32,
    /// For certificate sign-in: the RSA public key (PKCS#1 DER) and the certificate's thumbprint.
    certificate: Option<(Vec<u8>, String)>,
}

type Shared = Arc<Mutex<Seen>>;

fn error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": format!("{code} from the test server")}})))
        .into_response()
}

/// Checks the call's token and publisher; the first token stops working after three blob calls.
fn check(seen: &Shared, headers: &HeaderMap, query: &HashMap<String, String>, what: &str) -> Option<Response> {
    let mut seen = seen.lock().unwrap();
    if query.get("PublisherIdentifier").map(String::as_str) != Some("t1") {
        seen.without_publisher.push(what.to_owned());
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !token.starts_with("Bearer tok-") || (token == "Bearer tok-1" && seen.blob_calls >= 3) {
        seen.bad_tokens += 1;
        return Some(error(StatusCode::UNAUTHORIZED, "AF10001"));
    }
    None
}

/// Checks a JWT client assertion as Microsoft does: signature, thumbprint, audience, issuer.
fn assertion_holds(seen: &Shared, form: &HashMap<&str, &str>) -> bool {
    use base64::Engine as _;
    let Some((public, thumbprint)) = seen.lock().unwrap().certificate.clone() else { return false };
    let Some(jwt) = form.get("client_assertion") else { return false };
    let Some((signed, signature)) = jwt.rsplit_once('.') else { return false };
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap_or_default();
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public);
    if key.verify(signed.as_bytes(), &b64(signature)).is_err() {
        return false;
    }
    let (header, claims) = signed.split_once('.').unwrap_or_default();
    let header: serde_json::Value = serde_json::from_slice(&b64(header)).unwrap_or_default();
    let claims: serde_json::Value = serde_json::from_slice(&b64(claims)).unwrap_or_default();
    header["alg"] == "RS256"
        && header["x5t#S256"] == thumbprint.as_str()
        && claims["iss"] == "app"
        && claims["sub"] == "app"
        && claims["aud"].as_str().is_some_and(|aud| aud.ends_with("/t1/oauth2/v2.0/token"))
        && form.get("client_assertion_type")
            == Some(&"urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer")
}

async fn token(State(seen): State<Shared>, body: String) -> Response {
    let form: HashMap<&str, &str> = body.split('&').filter_map(|pair| pair.split_once('=')).collect();
    let secret_ok = form.get("client_secret") == Some(&"s3cret");
    if !(secret_ok || assertion_holds(&seen, &form)) || form.get("grant_type") != Some(&"client_credentials") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "bad secret"})),
        )
            .into_response();
    }
    let mut seen = seen.lock().unwrap();
    seen.tokens += 1;
    axum::Json(json!({"access_token": format!("tok-{}", seen.tokens), "expires_in": "3599", "token_type": "Bearer"}))
        .into_response()
}

async fn start(State(seen): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(refused) = check(&seen, &headers, &q, "start") {
        return refused;
    }
    let mut s = seen.lock().unwrap();
    s.started += 1;
    if s.started > 1 {
        return error(StatusCode::BAD_REQUEST, "AF20024");
    }
    axum::Json(json!({"contentType": q.get("contentType"), "status": "enabled"})).into_response()
}

async fn list(State(seen): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    check(&seen, &headers, &q, "list")
        .unwrap_or_else(|| axum::Json(json!([{"contentType": "Audit.Exchange", "status": "enabled"}])).into_response())
}

async fn content(State(seen): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(refused) = check(&seen, &headers, &q, "content") {
        return refused;
    }
    {
        let mut s = seen.lock().unwrap();
        if !s.throttled {
            s.throttled = true;
            return error(StatusCode::TOO_MANY_REQUESTS, "AF429");
        }
    }
    let base = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let entry = |id: &str| {
        json!({"contentType": "Audit.Exchange", "contentId": id, "contentUri": format!("http://{base}/blob/{id}"),
               "contentCreated": "2026-11-28T10:00:00.000Z", "contentExpiration": "2026-12-05T10:00:00.000Z"})
    };
    if q.get("page").map(String::as_str) == Some("2") {
        return axum::Json(json!([entry("b3"), entry("expired"), entry("bad")])).into_response();
    }
    let next = format!(
        "http://{base}/api/v1.0/t1/activity/feed/subscriptions/content?contentType=Audit.Exchange&startTime={}&endTime={}&page=2",
        q.get("startTime").cloned().unwrap_or_default(),
        q.get("endTime").cloned().unwrap_or_default()
    );
    ([("NextPageUri", next)], axum::Json(json!([entry("b1"), entry("b2")]))).into_response()
}

async fn blob(
    State(seen): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check(&seen, &headers, &q, "blob") {
        return refused;
    }
    seen.lock().unwrap().blob_calls += 1;
    match id.as_str() {
        "expired" => error(StatusCode::BAD_REQUEST, "AF20051"),
        "bad" => (StatusCode::OK, "<html>not json</html>").into_response(),
        // b3 repeats a record of b1, as the API does.
        "b3" => {
            axum::Json(json!([{"Id": "b1-r1", "Operation": "Set-DkimSigningConfig"}, {"Id": "b3-r2"}])).into_response()
        }
        _ => axum::Json(
            json!([{"Id": format!("{id}-r1"), "Operation": "Set-DkimSigningConfig"}, {"Id": format!("{id}-r2")}]),
        )
        .into_response(),
    }
}

/// Serves the fake API on a free port; returns its address and what it saw.
fn serve() -> (String, Shared) {
    serve_with(Shared::default())
}

fn serve_with(seen: Shared) -> (String, Shared) {
    let app = Router::new()
        .route("/t1/oauth2/v2.0/token", post(token))
        .route("/api/v1.0/t1/activity/feed/subscriptions/start", post(start))
        .route("/api/v1.0/t1/activity/feed/subscriptions/list", get(list))
        .route("/api/v1.0/t1/activity/feed/subscriptions/content", get(content))
        .route("/blob/{id}", get(blob))
        .with_state(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (address, seen)
}

fn tenant(address: &str, secret: &str) -> Tenant {
    Tenant {
        tenant_id: "t1".into(),
        client_id: "app".into(),
        credential: Credential::Secret(Secret::new(secret)),
        cloud: Cloud::Commercial,
        publisher: "t1".into(),
        login_base: Some(address.to_owned()),
        api_base: Some(address.to_owned()),
    }
}

const FAST: Retry = Retry { attempts: 4, base: Duration::from_millis(5) };

#[test]
fn the_client_follows_the_documented_protocol_through_its_faults() {
    let (address, seen) = serve();
    let mut client = Client::new(tenant(&address, "s3cret"), FAST);
    client.start("Audit.Exchange").expect("subscribed");
    client.start("Audit.Exchange").expect("started once per client");
    let mut other = Client::new(tenant(&address, "s3cret"), FAST);
    other.start("Audit.Exchange").expect("already enabled (AF20024) is fine");
    assert_eq!(seen.lock().unwrap().started, 2);
    assert_eq!(client.subscriptions().expect("listed"), [("Audit.Exchange".to_owned(), "enabled".to_owned())]);

    let end = Timestamp::now();
    let start = Timestamp::from_nanos(end.as_nanos() - 3_600_000_000_000);
    let listed = client.content("Audit.Exchange", start, end).expect("throttled once, then two pages");
    let ids: Vec<&str> = listed.iter().map(|c| c.content_id.as_str()).collect();
    assert_eq!(ids, ["b1", "b2", "b3", "expired", "bad"]);
    assert_eq!(listed[0].created, Timestamp::parse("2026-11-28T10:00:00Z", false).unwrap());

    let mut records = Vec::new();
    let (mut expired, mut malformed) = (0, 0);
    for content in &listed {
        match client.fetch(content) {
            Ok(batch) => records.extend(batch),
            Err(ApiError::Expired) => expired += 1,
            Err(ApiError::Malformed(_)) => malformed += 1,
            Err(other) => panic!("{}: {other}", content.content_id),
        }
    }
    let ids: Vec<&str> = records.iter().filter_map(|r| r["Id"].as_str()).collect();
    assert_eq!(ids, ["b1-r1", "b1-r2", "b2-r1", "b2-r2", "b1-r1", "b3-r2"], "fetch hands on what the blobs hold");
    assert_eq!((expired, malformed), (1, 1));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.tokens, 3, "one sign-in per client, then one more when the first one's token stopped working");
    assert_eq!(seen.bad_tokens, 1);
    assert!(seen.without_publisher.is_empty(), "calls without PublisherIdentifier: {:?}", seen.without_publisher);
    assert!(client.retries >= 2, "the throttled call and the refused token were retried");
}

#[test]
fn bad_credentials_and_bad_windows_say_so_and_secrets_stay_hidden() {
    let (address, _) = serve();
    let mut client = Client::new(tenant(&address, "wrong"), FAST);
    let err = client.start("Audit.Exchange").expect_err("refused");
    assert_eq!(err.to_string(), "sign-in refused: 401: bad secret");
    assert!(!format!("{client:?}").contains("wrong"), "{client:?}");
    let now = Timestamp::now();
    let day = 86_400_000_000_000;
    let long = client.content("Audit.Exchange", Timestamp::from_nanos(now.as_nanos() - 2 * day), now);
    assert!(matches!(long, Err(ApiError::Window(_))));
    let old = Timestamp::from_nanos(now.as_nanos() - 8 * day);
    let too_old = client.content("Audit.Exchange", old, Timestamp::from_nanos(old.as_nanos() + day / 2));
    assert!(matches!(too_old, Err(ApiError::Window(_))));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret\n").unwrap();
    assert_eq!(Secret::from_file(&dir.path().join("secret")).unwrap().expose(), "s3cret");

    // Where a credential comes from: one source, the default variable when none is named.
    let env = |var: &str| (var == "VIGIL_O365_CLIENT_SECRET").then(|| "from-env".to_owned());
    let secret = |c: Credential| match c {
        Credential::Secret(s) => s.expose().to_owned(),
        Credential::Certificate { .. } => String::new(),
    };
    assert_eq!(CredentialSource::default().load(env).map(secret), Ok("from-env".into()));
    let file = CredentialSource { client_secret_file: Some(dir.path().join("secret")), ..CredentialSource::default() };
    assert_eq!(file.load(env).map(secret), Ok("s3cret".into()));
    let named = CredentialSource { client_secret_env: Some("ELSEWHERE".into()), ..CredentialSource::default() };
    assert_eq!(
        named.load(env).map(secret),
        Err("no credential: ELSEWHERE is not set, and no client secret file or certificate is given".into())
    );
    let both = CredentialSource { client_secret_env: Some("X".into()), ..file };
    assert!(both.load(env).expect_err("two sources").starts_with("give one credential"));
}

/// Keeps what a pull hands over, and says which blobs it has.
#[derive(Default)]
struct Kept {
    seen: o365::api::Seen,
    ids: Vec<String>,
    blobs: Vec<(String, &'static str)>,
    taken: std::collections::HashSet<String>,
    listed: Vec<(String, Timestamp)>,
}

impl Sink for Kept {
    fn taken(&mut self, content: &o365::api::Content) -> bool {
        self.taken.contains(&content.content_id)
    }

    fn blob(&mut self, content: &o365::api::Content, blob: Blob) -> Result<(), String> {
        let kind = match blob {
            Blob::Records(records) => {
                let first = records.iter().filter(|r| self.seen.first(r));
                self.ids.extend(first.map(|r| r["Id"].as_str().unwrap_or("").to_owned()));
                "records"
            }
            Blob::Expired => "expired",
            Blob::Malformed(_) => "malformed",
        };
        self.taken.insert(content.content_id.clone());
        self.blobs.push((content.content_id.clone(), kind));
        Ok(())
    }

    fn listed(&mut self, content_type: &str, until: Timestamp) -> Result<(), String> {
        self.listed.push((content_type.to_owned(), until));
        Ok(())
    }
}

#[test]
fn a_pull_hands_on_each_record_once_and_skips_what_was_taken() {
    let (address, seen) = serve();
    let mut client = Client::new(tenant(&address, "s3cret"), FAST);
    let end = Timestamp::now();
    let start = Timestamp::from_nanos(end.as_nanos() - 3_600_000_000_000);
    let types = vec!["Audit.Exchange".to_owned()];
    let mut kept = Kept::default();
    let pulled = o365::api::pull(&mut client, &types, start, end, &mut kept).expect("pulled");
    assert_eq!(kept.ids, ["b1-r1", "b1-r2", "b2-r1", "b2-r2", "b3-r2"], "b1-r1 again in b3, dropped by its Id");
    assert_eq!(
        kept.blobs,
        [
            ("b1".into(), "records"),
            ("b2".into(), "records"),
            ("b3".into(), "records"),
            ("expired".into(), "expired"),
            ("bad".into(), "malformed")
        ]
    );
    assert_eq!(kept.listed, [("Audit.Exchange".to_owned(), end)]);
    assert_eq!((pulled.blobs, pulled.records, pulled.expired, pulled.malformed), (3, 6, 1, 1));
    assert_eq!((pulled.problems.len(), pulled.unlisted), (1, 0), "{:?}", pulled.problems);

    // A second pull over the same window fetches nothing the sink has.
    let calls = seen.lock().unwrap().blob_calls;
    let again = o365::api::pull(&mut client, &types, start, end, &mut kept).expect("pulled");
    assert_eq!((again.skipped, again.blobs, again.records), (5, 0, 0));
    assert_eq!(seen.lock().unwrap().blob_calls, calls, "no blob fetched twice");
}

#[test]
fn certificate_sign_in_sends_a_signed_assertion() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out =
            std::process::Command::new("openssl").args(args).current_dir(dir.path()).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "key.pem"]);
    run(&["req", "-x509", "-key", "key.pem", "-subj", "/CN=vigil-app", "-days", "1", "-out", "cert.pem"]);
    run(&["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"]);
    run(&["rsa", "-in", "key.pem", "-RSAPublicKey_out", "-outform", "DER", "-out", "public.der"]);
    let public = std::fs::read(dir.path().join("public.der")).unwrap();
    let cert = std::fs::read(dir.path().join("cert.der")).unwrap();
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&cert));
    let seen = Shared::default();
    seen.lock().unwrap().certificate = Some((public, thumbprint));
    let (address, seen) = serve_with(seen);
    let credential = Credential::certificate(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).expect("loads");
    assert!(!format!("{credential:?}").contains("PRIVATE"), "the key never prints");
    let mut client = Client::new(Tenant { credential, ..tenant(&address, "unused") }, FAST);
    client.start("Audit.Exchange").expect("signed in with the certificate");
    assert_eq!(seen.lock().unwrap().tokens, 1);
}
