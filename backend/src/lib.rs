//! Taskgate: a self-hosted operations task platform.

pub mod accounts;
pub mod audit;
pub mod catalogue;
pub mod clock;
pub mod codo;
pub mod crypto;
pub mod error;
pub mod executor;
pub mod gitlab;
pub mod http;
pub mod mail;
pub mod policy;
pub mod routes;
pub mod scheduler;
pub mod schedules;
pub mod settings;
pub mod state;
pub mod store;
pub mod task;
pub mod tasks;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{get, Endpoint, EndpointExt, IntoResponse, Response, Route};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{ServiceError, ServiceResult};
pub use crate::http::ui::UiSource;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::Db;

/// The deepest row a page may start at. A page past the last row is empty; one past this
/// is refused, so that `(page - 1) * per_page` never wraps (`page=9223372036854775807`).
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// The largest `per_page` of a listing.
pub const PER_PAGE_MAX: i64 = 200;

/// Validates `page` (from 1) and `per_page` (1–[`PER_PAGE_MAX`]); `(page - 1) * per_page`
/// is then at most [`MAX_OFFSET`].
pub fn paging(page: i64, per_page: i64) -> ServiceResult<(i64, i64)> {
    if page < 1 {
        return Err(ServiceError::validation("page", "must be 1 or more"));
    }
    if !(1..=PER_PAGE_MAX).contains(&per_page) {
        return Err(ServiceError::validation(
            "per_page",
            api_types::Message::new("must be between 1 and {max}").arg("max", PER_PAGE_MAX),
        ));
    }
    if (page - 1).checked_mul(per_page).is_none_or(|offset| offset > MAX_OFFSET) {
        return Err(ServiceError::validation(
            "page",
            api_types::Message::new("is too large: (page - 1) × per_page must be at most {max}").arg("max", MAX_OFFSET),
        ));
    }
    Ok((page, per_page))
}

/// Opens the database and brings its schema up to date.
pub async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database_url)
        .await
        .with_context(|| format!("opening {}", settings::redact_url(&settings.database_url)))?;
    db.migrate().await.context("migrating the database")?;
    Ok(db)
}

/// Whether a missing secret key may be generated (the server's first start) or must
/// already exist (commands whose output the server must be able to verify, such as tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKey {
    CreateIfMissing,
    MustExist,
}

/// Opens and migrates the database and derives the keys: everything but the listener.
pub async fn open_state(settings: Settings, secret_key: SecretKey) -> anyhow::Result<AppState> {
    let db = open_db(&settings).await?;
    let secret = match (&settings.secret_key, secret_key) {
        (Some(s), _) => s.expose_secret().as_bytes().to_vec(),
        (None, SecretKey::CreateIfMissing) => crypto::load_or_create_secret(&settings.data_dir)?,
        (None, SecretKey::MustExist) => {
            let path = settings.data_dir.join("secret.key");
            anyhow::ensure!(
                path.exists(),
                "no secret key: set TASKGATE_SECRET_KEY or run this where the server keeps {} \
                 (a token signed with another key would be refused by the server)",
                path.display()
            );
            crypto::load_or_create_secret(&settings.data_dir)?
        }
    };
    let keys = crypto::Keys::from_secret(&secret);
    let node_id = match &settings.node_id {
        Some(n) => n.clone(),
        None => load_or_create_node_id(&settings.data_dir)?,
    };
    Ok(AppState::new(db, keys, settings, node_id))
}

/// The name this instance claims runs under, kept in `data_dir/node.id` so that after a
/// restart it recognises (and marks interrupted) the runs it had. Created 0600 in a 0700
/// directory, like the other files of `data_dir`.
fn load_or_create_node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node.id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
        // Left empty by an interrupted first write: no run was ever claimed under it.
        std::fs::remove_file(&path).with_context(|| format!("replacing the empty {}", path.display()))?;
    }
    crypto::create_private_dir(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let id = format!("node-{}", crypto::random_token(9));
    crypto::write_private(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// Paths served by the API (with JSON errors); every other path belongs to the SPA.
fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/healthz" || path == "/metrics"
}

/// The whole HTTP surface: API, Swagger UI, CODO compatibility, health, and the SPA from
/// `ui` (whose client-side routes such as `/tasks/42` fall back to `index.html`). Every
/// answer carries the security headers of [`http::headers`].
pub fn app(state: AppState, server_url: &str, ui: &UiSource) -> impl poem::Endpoint {
    let api = routes::openapi_service(&format!("{server_url}/"));
    let spec = Arc::new(http::spec::Spec::new(&api.spec()));
    let document = spec.clone();
    let spec_endpoint = poem::endpoint::make_sync(move |_| {
        poem::Response::builder().content_type("application/json; charset=utf-8").body(document.document().to_string())
    });
    let docs = api.swagger_ui();
    let max_body = state.settings.max_body_bytes;
    let spa = Arc::new(http::ui::Spa::new(ui));
    let docs_csp = Arc::new(OnceLock::new());
    Route::new()
        .nest("/", api)
        .at("/api/openapi.json", get(spec_endpoint))
        .nest("/api/docs", docs)
        .at("/api/task/v2/task/accept/", get(codo::accept_get).post(codo::accept_post))
        .at("/api/task/v2/task/accept", get(codo::accept_get).post(codo::accept_post))
        .at("/api/task/accept", get(codo::accept_get).post(codo::accept_post))
        .at("/api/task/accept/", get(codo::accept_get).post(codo::accept_post))
        .around(move |ep, req| {
            let (spa, docs_csp, spec) = (spa.clone(), docs_csp.clone(), spec.clone());
            async move {
                let path = req.uri().path();
                let surface = if path == "/api/docs" || path == "/api/docs/" {
                    http::headers::Surface::Docs
                } else if is_api_path(path) {
                    http::headers::Surface::Api
                } else {
                    http::headers::Surface::Spa
                };
                let language = req.header("accept-language").map(str::to_string);
                let answer = http::error::in_language(language.as_deref(), serve(ep, req, &spa, &spec, max_body)).await;
                Ok::<_, poem::Error>(http::headers::secure(surface, answer, &docs_csp).await)
            }
        })
        .with(poem::middleware::CookieJarManager::new())
        .data(state)
}

/// Answers one request: bounded body, no NUL in the URL, then the API or the SPA.
async fn serve(
    ep: Arc<impl Endpoint>,
    mut req: poem::Request,
    spa: &http::ui::Spa,
    spec: &http::spec::Spec,
    max_body: usize,
) -> Response {
    let codo = codo::is_codo_path(req.uri().path());
    // Read the whole body first, bounded: an oversized body (declared or chunked) is
    // refused here, and an early answer (401, 403) never leaves unread bytes on a
    // keep-alive connection.
    let too_large = || {
        let mut answer = if codo {
            codo::too_large(max_body)
        } else {
            http::error::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                http::error::say(
                    api_types::message::Message::new("request body is larger than {limit} bytes")
                        .arg("limit", max_body),
                ),
            )
        };
        // The connection ends with this answer: say so, or a client may send its next
        // request on a connection that is closing.
        answer.headers_mut().insert(poem::http::header::CONNECTION, poem::http::HeaderValue::from_static("close"));
        answer
    };
    let declared = req.header("content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max_body) {
        return too_large();
    }
    match read_body(req.take_body(), max_body).await {
        Ok(Some(bytes)) => req.set_body(bytes),
        Ok(None) => return too_large(),
        Err(e) => return e.into_response(),
    }
    // PostgreSQL text cannot hold NUL, and SQLite's LIKE would match everything.
    if let Some(field) = http::payload::nul_in_uri(req.uri()) {
        let message = http::strict::NUL_MESSAGE;
        return if codo {
            codo::invalid_input(&field, message)
        } else {
            http::error::ApiError::from(ServiceError::validation(field, message)).into_response()
        };
    }
    let (method, path, started) = (req.method().clone(), req.uri().path().to_string(), Instant::now());
    let answer = if is_api_path(&path) {
        http::error::json_errors(ep, req, spec).await.unwrap_or_else(|e| e.into_response())
    } else {
        spa.answer(&req).await
    };
    // The path only: query strings may carry tokens (CODO's `?auth_key=`).
    tracing::debug!(%method, path, status = answer.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    answer
}

/// Reads a body of at most `limit` bytes; `None` when it is larger. The rest of a larger
/// body is read and dropped (up to 64 MiB), so that the client, still sending, gets
/// the 413 answer rather than a reset connection.
async fn read_body(body: poem::Body, limit: usize) -> poem::Result<Option<Vec<u8>>> {
    use futures_util::StreamExt;
    let mut stream = std::pin::pin!(body.into_bytes_stream());
    let (mut data, mut seen) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| poem::Error::new(e, poem::http::StatusCode::BAD_REQUEST))?;
        seen += chunk.len();
        if seen <= limit {
            data.extend_from_slice(&chunk);
        } else if seen > 64 * 1024 * 1024 {
            break;
        }
    }
    Ok((seen <= limit).then_some(data))
}

/// A running server: its address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 10 s), stops background loops
    /// and the runs in progress.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.server.await??;
        for b in self.background {
            let _ = b.await;
        }
        // Runs in progress stop where they stand; the next start marks them interrupted.
        self.state.runs.stop_all();
        self.state.db.close().await;
        Ok(())
    }

    /// Runs until a stopper (see [`Running::stopper`]) asks to stop, then shuts down.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut stop = self.stop.subscribe();
        let _ = stop.changed().await;
        self.shutdown().await
    }

    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// Starts the server on `settings.bind`, sending the web UI from `ui`, and returns once it
/// is listening.
pub async fn start(settings: Settings, ui: UiSource) -> anyhow::Result<Running> {
    let bind = settings.bind.clone();
    let public_url = settings.public_url.clone();
    let state = open_state(settings, SecretKey::CreateIfMissing).await?;
    let generated = accounts::service::bootstrap_admin(&state).await?;
    let sealed = catalogue::aliases::seal_plain_secret_defaults(&state).await?;
    if sealed > 0 {
        tracing::info!(aliases = sealed, "encrypted the defaults of secret aliases kept in clear by an older version");
    }

    let acceptor = TcpListener::bind(bind.clone()).into_acceptor().await.with_context(|| format!("binding {bind}"))?;
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let url = public_url.unwrap_or_else(|| format!("http://{addr}"));
    let (stop, stop_rx) = watch::channel(false);

    // Runs this instance had when it stopped are over: mark them interrupted first (what
    // their steps still run on the hosts is killed meanwhile).
    scheduler::recovery::interrupt_orphans(&state, true).await?;
    let background = vec![
        tokio::spawn(tasks::expiry::run(state.clone(), stop_rx.clone())),
        tokio::spawn(scheduler::recovery::run(state.clone(), stop_rx.clone())),
        tokio::spawn(scheduler::dispatcher::run(state.clone(), stop_rx.clone())),
        tokio::spawn(executor::watch_abort_flags(state.clone(), stop_rx.clone())),
        tokio::spawn(schedules::runner::run(state.clone(), stop_rx.clone())),
        tokio::spawn(mail::run(state.clone(), stop_rx.clone())),
        tokio::spawn(codo::csrf::sweep(state.clone(), stop_rx.clone())),
    ];
    let endpoint = app(state.clone(), &url, &ui);
    let mut shutdown = stop_rx.clone();
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async move {
                    let _ = shutdown.changed().await;
                },
                Some(Duration::from_secs(10)),
            )
            .await
    });

    tracing::info!("Taskgate is listening on {url}  (API docs: {url}/api/docs)");
    match (&generated, state.settings.admin_password.is_some()) {
        (Some(pw), _) => tracing::warn!(
            "first start: created user `admin` with password `{pw}`. Log in at {url} and change it; it is not shown again"
        ),
        (None, true) => tracing::info!("log in as `admin` with the password in TASKGATE_ADMIN_PASSWORD"),
        (None, false) => tracing::info!("log in with your account (add one with `taskgate user add`)"),
    }
    Ok(Running { addr, state, stop, server, background })
}
