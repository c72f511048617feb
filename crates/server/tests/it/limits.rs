//! Hostile bodies and floods: refused early, answered in Elasticsearch's terms, and the service
//! stays up.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use crate::App;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("compresses");
    encoder.finish().expect("compresses")
}

/// Sends a gzip body with the admin key.
async fn send_gzip(app: &App, uri: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("ApiKey {}", app.admin))
        .header("content-encoding", "gzip")
        .header("content-type", "application/x-ndjson")
        .body(Body::from(body))
        .expect("a request");
    let response = app.router.clone().oneshot(request).await.expect("an answer");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn a_small_gzip_body_of_millions_of_items_is_refused_at_max_items() {
    let app = App::new();
    // 30 MB of `{}` lines packs into about 30 KB: 10 million items.
    let packed = gzip(&b"{}\n".repeat(10_000_000));
    assert!(packed.len() < 100_000, "{} bytes", packed.len());
    for uri in ["/api/v1/events", "/_bulk"] {
        let (status, body) = send_gzip(&app, uri, packed.clone()).await;
        assert_eq!((status, body["error"]["type"].as_str()), (413, Some("too_large")), "{uri}: {body}");
        assert!(body["error"]["reason"].as_str().unwrap_or("").contains("max_items allows 100000"), "{body}");
    }
    use engine::storage::EventLog;
    assert_eq!(app.store.event_count().expect("counts"), 0, "nothing of a refused request is stored");
}

#[tokio::test]
async fn gzip_over_max_body_and_arrays_over_max_items_are_413() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server::Config { max_body: 4096, max_items: 3, ..server::Config::default() };
    let app = App::in_dir(dir, config);
    let (status, body) = send_gzip(&app, "/api/v1/events", gzip(&b"{\"message\":\"x\"}\n".repeat(1000))).await;
    assert_eq!((status, body["error"]["type"].as_str()), (413, Some("too_large")), "{body}");
    let (status, body) = send_gzip(&app, "/api/v1/events", b"not gzip".to_vec()).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, body) = app.call("POST", "/api/v1/events", "[{}, {}, {}, {}]").await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (413, Some("too_large")), "{body}");
    let (status, body) = app.call("POST", "/api/v1/events", "[{}, {}, {}]").await;
    assert_eq!((status.as_u16(), body["stored"].as_u64()), (200, Some(3)), "three id-less documents: {body}");
}

#[tokio::test]
async fn ingest_requests_past_the_ingest_queue_are_answered_429() {
    let data = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(store::Sqlite::open(data.path()).expect("opens"));
    let config = server::Config { max_ingest_requests: 1, max_ingest_queue: 1, ..server::Config::default() };
    let state = server::AppState::new(store.clone(), config);
    let app = App::over(state.clone(), store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    // A slow client: its request's head is sent, its body never ends.
    let mut slow = tokio::net::TcpStream::connect(address).await.expect("connects");
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nhost: x\r\nauthorization: ApiKey {}\r\ncontent-type: application/x-ndjson\r\ncontent-length: 100000\r\n\r\n{{\"index\":{{}}}}\n",
        app.admin
    );
    slow.write_all(head.as_bytes()).await.expect("writes");
    for _ in 0..250 {
        let (_, metrics) = app.call("GET", "/metrics", "").await;
        if metrics.as_str().unwrap_or("").lines().any(|l| l == "vigil_ingest_requests_reading 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // One more may wait its turn; the one after it is answered 429 at once.
    let waiting = tokio::spawn({
        let key = app.admin.clone();
        async move { small_bulk(address, &key).await }
    });
    for _ in 0..250 {
        let (_, metrics) = app.call("GET", "/metrics", "").await;
        if metrics.as_str().unwrap_or("").lines().any(|l| l == "vigil_ingest_requests_waiting 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut answer = small_bulk(address, &app.admin).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("max_ingest_requests"), "{answer}");
    let (_, metrics) = app.call("GET", "/metrics", "").await;
    assert!(metrics.as_str().unwrap_or("").lines().any(|l| l == "vigil_ingest_requests_busy_total 1"), "{metrics}");
    // Once the slow client goes, its permit is back: the waiting request goes in, and new ones.
    drop(slow);
    let waited = waiting.await.expect("the waiting request ends");
    assert!(waited.starts_with("HTTP/1.1 200"), "{waited}");
    for _ in 0..50 {
        answer = small_bulk(address, &app.admin).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    let _ = service.await;
}

/// One small bulk request over a new connection; the whole answer.
async fn small_bulk(address: std::net::SocketAddr, key: &str) -> String {
    let mut client = tokio::net::TcpStream::connect(address).await.expect("connects");
    let body = "{\"index\":{\"_index\":\"logs-x-default\"}}\n{}\n";
    let request = format!(
        "POST /_bulk HTTP/1.1\r\nhost: x\r\nauthorization: ApiKey {key}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.expect("reads");
    answer
}

/// A running service over `config`, its address, and what stops it.
async fn running(
    config: server::Config,
) -> (App, std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(store::Sqlite::open(data.path()).expect("opens"));
    let state = server::AppState::new(store.clone(), config);
    let app = App::over(state.clone(), store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (app, address, stop, data)
}

/// Whether the server closed `stream` (a read that returns nothing, or an error) within `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: std::time::Duration) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // an answer; keep reading
        }
    }
}

#[tokio::test]
async fn idle_sockets_are_closed_and_cannot_take_every_connection() {
    let config = server::Config {
        max_connections: 2,
        header_timeout: rules::Interval::from_seconds(1),
        ..server::Config::default()
    };
    let (app, address, stop, _data) = running(config).await;
    // Two sockets that say nothing take both slots; a third is closed as it comes.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(tokio::net::TcpStream::connect(address).await.expect("connects"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(address).await.expect("the kernel accepts");
    assert!(closed_within(&mut third, std::time::Duration::from_secs(5)).await, "over max_connections: closed");
    // The silent ones are closed after header_timeout, and the service answers again.
    for socket in &mut idle {
        assert!(closed_within(socket, std::time::Duration::from_secs(5)).await, "a silent socket is closed");
    }
    assert!(small_bulk(address, &app.admin).await.starts_with("HTTP/1.1 200"));
    let (_, metrics) = app.call("GET", "/metrics", "").await;
    assert!(metrics.as_str().unwrap_or("").lines().any(|l| l == "vigil_connections_refused_total 1"), "{metrics}");
    // A keep-alive connection that goes quiet after its request is closed too.
    let mut client = tokio::net::TcpStream::connect(address).await.expect("connects");
    client.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("writes");
    assert!(closed_within(&mut client, std::time::Duration::from_secs(5)).await, "idle keep-alive is closed");
    let _ = stop.send(());
}

#[tokio::test]
async fn a_request_slower_than_request_timeout_is_answered_503() {
    let config = server::Config { request_timeout: rules::Interval::from_seconds(1), ..server::Config::default() };
    let (app, address, stop, _data) = running(config).await;
    let mut client = tokio::net::TcpStream::connect(address).await.expect("connects");
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nhost: x\r\nauthorization: ApiKey {}\r\ncontent-length: 1000\r\n\r\n{{\"index\":{{}}}}\n",
        app.admin
    );
    client.write_all(head.as_bytes()).await.expect("writes");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), client.read(&mut answer))
        .await
        .expect("an answer before the test gives up")
        .expect("reads");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let _ = stop.send(());
}
