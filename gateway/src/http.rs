//! The daemon's HTTP endpoints, served with axum: `/metrics` (Prometheus text format),
//! `/status` (JSON, for `opd-gateway status` and the page), and the office's page at `/`
//! with what it reads: `/history.json`, `/report` and `/policy.json` (see [`crate::web`]).
//! On a listener other than loopback every request needs the credential. At most [`MAX_CONNECTIONS`] connections are
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
    extract::{Query, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
    serve::Listener,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

use crate::{
    dataplane::HostReader,
    metrics::{Exporter, HostsStatus},
    policy::Lang,
    web::{Range, Web, WebError},
};

/// Connections served at once; more wait in the kernel's accept queue. Each open page
/// keeps one alive while it polls: room for the office's 200 pages and Prometheus, at a
/// few kilobytes each (BENCHMARKS.md, section 10).
pub const MAX_CONNECTIONS: usize = 512;
/// A connection that neither reads nor writes for this long is closed.
pub const IDLE: Duration = Duration::from_secs(10);

/// What the endpoints serve from.
#[derive(Clone)]
pub struct App {
    pub exporter: Arc<Exporter>,
    pub web: Arc<Web>,
    /// One report at a time: a year of 45 agencies is seconds of CPU and hundreds of MB.
    pub reports: Arc<Semaphore>,
    /// The data plane's host table, for an agency's busiest hosts.
    pub hosts: Arc<HostReader>,
    /// One listing of hosts at a time: each walks the whole table twice.
    pub host_listings: Arc<Semaphore>,
}

impl App {
    pub fn new(exporter: Arc<Exporter>, web: Arc<Web>, hosts: HostReader) -> App {
        App {
            exporter,
            web,
            reports: Arc::new(Semaphore::new(1)),
            hosts: Arc::new(hosts),
            host_listings: Arc::new(Semaphore::new(1)),
        }
    }
}

/// How long `/status?agency=` measures each host's rate over.
pub const HOST_RATE_INTERVAL: Duration = Duration::from_millis(500);
/// Hosts `/status?agency=` lists unless asked for another number.
pub const HOSTS_LISTED: usize = 20;

/// The endpoints.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/", get(page))
        .route("/history.json", get(history))
        .route("/report", get(report))
        .route("/policy.json", get(policy))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        .with_state(app)
}

/// Serves the endpoints until the task is dropped.
pub async fn serve(listener: TcpListener, app: App) -> io::Result<()> {
    let listener = Bounded {
        inner: listener,
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    };
    axum::serve(listener, router(app)).await
}

/// Lets a request through if no credential is needed or it carries it; else 401, which
/// makes a browser ask for it.
async fn authorize(State(app): State<App>, req: Request, next: Next) -> Response {
    if app.web.credential.is_none() && !loopback_host(&req) {
        // Without a credential the daemon listens on loopback only; a request naming
        // another host there is a web page elsewhere reaching in (DNS rebinding).
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this gateway answers requests for localhost, 127.0.0.1 or [::1] only\n",
        )
            .into_response();
    }
    if let Some(c) = &app.web.credential {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !c.admits(given) {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"OPD Gateway\", charset=\"UTF-8\"",
                )],
                "the credential is missing or wrong: give the secret of the daemon's \
                 --credential file as the password (any user name) or as a bearer token\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

async fn metrics(State(app): State<App>) -> Response {
    match app.exporter.render() {
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

#[derive(serde::Deserialize)]
struct StatusQuery {
    /// List this agency's busiest hosts instead.
    agency: Option<String>,
    /// How many hosts to list.
    top: Option<usize>,
}

async fn status(State(app): State<App>, Query(q): Query<StatusQuery>) -> Response {
    let Some(agency) = q.agency else {
        return Json(app.exporter.status()).into_response();
    };
    let Some((slot, sharing, active)) = app.exporter.agency(&agency) else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "the policy in force has no agency `{agency}`; `opd-gateway status` lists them by id\n"
            ),
        )
            .into_response();
    };
    let Ok(_permit) = app.host_listings.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "another listing of hosts is being made; try again in a second\n",
        )
            .into_response();
    };
    let top = q.top.unwrap_or(HOSTS_LISTED).clamp(1, 10_000);
    let reader = app.hosts.clone();
    let listing = tokio::task::spawn_blocking(move || {
        // Each reading is a walk of the table: the interval runs from the middle of one
        // to the middle of the other.
        let t0 = std::time::Instant::now();
        let before = reader.agency(slot)?;
        let t1 = t0.elapsed();
        std::thread::sleep(HOST_RATE_INTERVAL);
        let t2 = t0.elapsed();
        let after = reader.agency(slot)?;
        let t3 = t0.elapsed();
        let elapsed = (t2 + t3) / 2 - t1 / 2;
        Ok::<_, crate::dataplane::DataplaneError>(HostsStatus::new(
            &agency,
            sharing.as_str(),
            active,
            &before,
            &after,
            elapsed,
            top,
        ))
    })
    .await;
    match listing {
        Ok(Ok(hosts)) => Json(hosts).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the host table: {}\n", crate::error_chain(&e)),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the listing of hosts failed: {e}\n"),
        )
            .into_response(),
    }
}

/// True if the request's Host names the loopback interface (with any port), or names none.
fn loopback_host(req: &Request) -> bool {
    let Some(host) = req.headers().get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing but the gateway itself: the page must work without the internet.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src 'self' data:; frame-ancestors 'self'",
            ),
        ],
        crate::web::PAGE,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct HistoryQuery {
    agency: String,
    #[serde(default = "default_range")]
    range: String,
}

fn default_range() -> String {
    "day".into()
}

fn web_error(e: WebError) -> Response {
    let code = match e {
        WebError::NoHistory => StatusCode::NOT_FOUND,
        WebError::UnknownAgency(_) => StatusCode::NOT_FOUND,
        WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
        WebError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, format!("{}\n", crate::error_chain(&e))).into_response()
}

async fn history(State(app): State<App>, Query(q): Query<HistoryQuery>) -> Response {
    let Some(range) = Range::parse(&q.range) else {
        return web_error(WebError::BadRequest(format!(
            "range `{}`: use hour, day, week or month",
            q.range
        )));
    };
    let web = app.web.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match tokio::task::spawn_blocking(move || web.series(&q.agency, range, now)).await {
        Ok(Ok(series)) => Json(series).into_response(),
        Ok(Err(e)) => web_error(e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    lang: Option<String>,
}

async fn report(State(app): State<App>, Query(q): Query<ReportQuery>) -> Response {
    let lang = q.lang.as_deref().and_then(Lang::parse).unwrap_or(Lang::Id);
    let Ok(permit) = app.reports.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "another report is being prepared; try again in a few seconds\n",
        )
            .into_response();
    };
    let web = app.web.clone();
    match tokio::task::spawn_blocking(move || {
        let _permit = permit;
        web.report(q.from.as_deref(), q.to.as_deref(), lang)
    })
    .await
    {
        Ok(Ok(page)) => Html(page).into_response(),
        Ok(Err(e)) => web_error(e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn policy(State(app): State<App>) -> Json<crate::web::PolicyView> {
    Json(app.web.policy_view())
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try /, /metrics or /status\n",
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
