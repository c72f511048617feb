//! Connections: taken up to a limit, each given a deadline for its first bytes (or its TLS
//! handshake) and for every request's headers, served by hyper (HTTP/1.1 and HTTP/2, over TLS
//! when configured), and let finish when the service stops.
//!
//! A client that opens a socket and sends nothing, or sends its headers a byte at a time, holds
//! a connection slot for at most `header_timeout`; idle keep-alive connections are closed after
//! the same time; and past `max_connections` new connections are closed at once, so a flood of
//! idle sockets cannot make the service unreachable.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// What one connection may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once, at most.
    pub max_connections: usize,
    /// How long a connection may wait for its first bytes or TLS handshake, a request's headers
    /// may take, and a keep-alive connection may stay idle.
    pub header_timeout: Duration,
    /// How long connections under way may go on once the service stops.
    pub grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish
/// (up to `limits.grace`).
///
/// # Errors
///
/// Never for a connection's own failure (that connection ends); only when the listener fails
/// in a way that accepting again cannot fix.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(128);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connection_refused();
            drop(stream);
            continue;
        };
        let (builder, acceptor, watcher, app) = (builder.clone(), acceptor.clone(), graceful.watcher(), app.clone());
        let timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            match acceptor {
                None if first_bytes(&stream, timeout).await => serve_one(&builder, stream, app, watcher).await,
                None => {}
                Some(acceptor) => {
                    if let Ok(Ok(stream)) = tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        serve_one(&builder, stream, app, watcher).await;
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => tracing::warn!("shutdown: connections still open were closed"),
    }
    Ok(())
}

/// Serves one connection (plain or TLS) until it ends, or the service stops and it finishes.
async fn serve_one<I>(builder: &auto::Builder<TokioExecutor>, io: I, app: Router, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(app));
    let _ = watcher.watch(connection.into_owned()).await;
}

/// Whether the client sent something within `timeout` (before hyper, which would wait for the
/// first bytes forever while it finds out the HTTP version).
async fn first_bytes(stream: &TcpStream, timeout: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(timeout, stream.peek(&mut byte)).await, Ok(Ok(n)) if n > 0)
}
