//! The daemon's HTTP endpoints, served with axum: `/metrics` (Prometheus text format) and
//! `/status` (JSON, for `opd-gateway status`). At most [`MAX_CONNECTIONS`] connections are
//! served at once and each is closed after [`IDLE`] without progress, so a flood of clients
//! or a silent one costs bounded memory and never holds up the control loop (which runs on
//! its own task). Accept errors (a full descriptor table) are retried after a pause by
//! axum's listener, not in a busy loop.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
    serve::Listener,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

use crate::metrics::Exporter;

/// Connections served at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection that neither reads nor writes for this long is closed.
pub const IDLE: Duration = Duration::from_secs(10);

/// The endpoints, for the exporter.
pub fn router(exporter: Arc<Exporter>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/", get(index))
        .fallback(not_found)
        .with_state(exporter)
}

/// Serves the endpoints until the task is dropped.
pub async fn serve(listener: TcpListener, exporter: Arc<Exporter>) -> io::Result<()> {
    let listener = Bounded {
        inner: listener,
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    };
    axum::serve(listener, router(exporter)).await
}

async fn metrics(State(exporter): State<Arc<Exporter>>) -> Response {
    match exporter.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %crate::error_chain(&e), "a scrape failed: cannot read the counters");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the counters: {}\n", crate::error_chain(&e)),
            )
                .into_response()
        }
    }
}

async fn status(State(exporter): State<Arc<Exporter>>) -> Json<crate::metrics::Status> {
    Json(exporter.status())
}

async fn index() -> &'static str {
    "opd-gateway: see /metrics and /status\n"
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try /metrics or /status\n",
    )
}

/// A listener that accepts a connection only while fewer than its permits are in use.
struct Bounded {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl Listener for Bounded {
    type Io = Guarded;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let io = Guarded {
            stream,
            _permit: permit,
            idle: Box::pin(tokio::time::sleep(IDLE)),
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A served connection: holds its permit, and fails once idle for [`IDLE`].
struct Guarded {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Pin<Box<Sleep>>,
}

impl Guarded {
    /// An error once the connection has been idle too long.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle too long",
            )),
            Poll::Pending => Ok(()),
        }
    }

    fn progressed(&mut self) {
        self.idle.as_mut().reset(Instant::now() + IDLE);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Poll::Ready(r) = Pin::new(&mut self.stream).poll_read(cx, buf) {
            if r.is_ok() {
                self.progressed();
            }
            return Poll::Ready(r);
        }
        self.check_idle(cx)?;
        Poll::Pending
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(r) = Pin::new(&mut self.stream).poll_write(cx, buf) {
            if r.is_ok() {
                self.progressed();
            }
            return Poll::Ready(r);
        }
        self.check_idle(cx)?;
        Poll::Pending
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
