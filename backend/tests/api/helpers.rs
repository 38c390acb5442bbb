//! One way to start the real server for a test: `spawn_app(backend)` binds port 0 on a
//! fresh SQLite file or a fresh PostgreSQL database, and cleans up after itself.

use std::path::{Path, PathBuf};
use std::sync::Once;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection, Executor};
use taskgate::settings::Settings;
use taskgate::{Running, UiSource};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "user-password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test body once per backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("info,sqlx=warn").with_test_writer().init();
        }
    });
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The database of one test; a PostgreSQL database is dropped when the test ends.
struct TestDb {
    url: String,
    postgres_name: Option<String>,
}

impl TestDb {
    async fn create(backend: Backend, dir: &std::path::Path) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb { url: format!("sqlite://{}/taskgate.db", dir.display()), postgres_name: None },
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let name = format!("taskgate_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = AnyConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test: {e}"));
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
                conn.close().await.ok();
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
                TestDb { url: format!("{base}/{name}"), postgres_name: Some(name) }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            // Drop runs outside async; use a private runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok(mut conn) = AnyConnection::connect(&postgres_admin_url()).await {
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                            .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    settings: Settings,
    running: Option<Running>,
    ui: UiSource,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the server after `tweak` has adjusted its settings.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    start_app(backend, None, tweak).await
}

/// Starts the server serving the SPA from `static_dir` (the repository's `static/` for the
/// browser test) instead of an empty temporary directory.
pub async fn spawn_app_serving(backend: Backend, static_dir: &Path) -> TestApp {
    start_app(backend, Some(UiSource::Dir(static_dir.to_path_buf())), |_| {}).await
}

/// Starts the server serving the UI built into it, as `taskgate serve` does without
/// `--static-dir` (a test build reads the repository's `static/` at run time).
pub async fn spawn_app_embedded(backend: Backend) -> TestApp {
    start_app(backend, Some(UiSource::Embedded), |_| {}).await
}

/// Starts the server; without `ui`, serving the SPA from an empty temporary directory that
/// a test may fill (see [`TestApp::static_dir`]).
async fn start_app(backend: Backend, ui: Option<UiSource>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let ui = ui.unwrap_or_else(|| UiSource::Dir(dir.path().to_path_buf()));
    let db = TestDb::create(backend, dir.path()).await;
    let mut settings = Settings::from_sources(None, None, |_| None).expect("default settings");
    settings.bind = "127.0.0.1:0".into();
    settings.database_url = db.url.clone();
    settings.data_dir = dir.path().to_path_buf();
    settings.secret_key = Some(format!("test-secret-{}", uuid::Uuid::new_v4()).into());
    settings.admin_password = Some(ADMIN_PASSWORD.to_string().into());
    settings.max_body_bytes = 256 * 1024;
    tweak(&mut settings);
    let running = taskgate::start(settings.clone(), ui.clone()).await.expect("server starts");
    let mut app = TestApp {
        base: format!("http://{}", running.addr),
        client: reqwest::Client::new(),
        admin_token: String::new(),
        settings,
        running: Some(running),
        ui,
        _db: db,
        _dir: dir,
    };
    app.admin_token = app.login("admin", ADMIN_PASSWORD).await;
    app
}

/// An answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// Asserts an error answer: status, stable code, and (when given) the field named.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str, field: Option<&str>) -> Value {
        let body = self.expect(status);
        assert_eq!(body["code"], code, "error code; body: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "error needs a message: {body}");
        if let Some(f) = field {
            assert_eq!(body["field"], f, "error field; body: {body}");
        }
        body
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// A ticket for `path`, taken with `token`: what a browser puts in a URL.
    pub async fn ticket(&self, token: &str, path: &str) -> String {
        let body = self.post("/api/v1/auth/tickets", token, &json!({ "path": path })).await.expect(201);
        body["ticket"].as_str().expect("ticket in answer").to_string()
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = self
            .send(Method::POST, "/api/v1/auth/login", None, Some(&json!({"username": username, "password": password})))
            .await
            .expect(200);
        body["token"].as_str().expect("token in login answer").to_string()
    }

    /// Creates a user with `role` (and optional groups) and returns a session token for it.
    pub async fn user(&self, username: &str, role: &str, groups: &[&str]) -> String {
        self.post(
            "/api/v1/users",
            &self.admin_token,
            &json!({"username": username, "password": PASSWORD, "role": role, "groups": groups}),
        )
        .await
        .expect(201);
        self.login(username, PASSWORD).await
    }

    /// A command and a two-group template that uses `{{ TAG }}`; returns the template id.
    pub async fn deploy_template(&self) -> i64 {
        let cmd = self
            .post("/api/v1/commands", &self.admin_token, &json!({"name": "deploy", "body": "deploy.sh {{ TAG }}"}))
            .await
            .expect(201);
        self.post(
            "/api/v1/aliases",
            &self.admin_token,
            &json!({"key": "TAG", "label": "Release tag", "pattern": "(qa|release)-[0-9.]+"}),
        )
        .await
        .expect(201);
        let t = self
            .post(
                "/api/v1/templates",
                &self.admin_token,
                &json!({
                    "name": "release",
                    "steps": [
                        {"name": "build", "group": "local", "script": "echo build {{ TAG }}"},
                        {"name": "deploy web", "group": "1", "command_id": cmd["id"]},
                        {"name": "deploy api", "group": "2", "command_id": cmd["id"]}
                    ]
                }),
            )
            .await
            .expect(201);
        t["id"].as_i64().unwrap()
    }

    pub async fn submit(&self, token: &str, template_id: i64, schedule: &str) -> Answer {
        self.post(
            "/api/v1/tasks",
            token,
            &json!({
                "template_id": template_id,
                "schedule": schedule,
                "args": {"TAG": "release-1.2"},
                "hosts": {"1": ["10.0.0.1", "10.0.0.2"], "2": ["10.0.0.3"]},
                // Far ahead: these tests are about the task before it runs.
                "exec_time": "2035-01-01 00:00:00"
            }),
        )
        .await
    }

    /// Stops the server (gracefully) and starts it again on the same database and secret.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops the server (gracefully); `start_again` brings it back on the same data.
    pub async fn stop(&mut self) {
        let running = self.running.take().expect("server running");
        running.shutdown().await.expect("graceful shutdown");
    }

    pub async fn start_again(&mut self) {
        let mut settings = self.settings.clone();
        settings.bind = "127.0.0.1:0".into();
        let running = taskgate::start(settings, self.ui.clone()).await.expect("server restarts");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }
}

impl TestApp {
    /// Reads a credential's stored (encrypted) secret straight from the database.
    pub async fn stored_credential_secret(&self, id: i64) -> String {
        self.query_text("SELECT secret_enc FROM credentials WHERE id = $1", id).await
    }

    /// Reads one encrypted text column of one row and decrypts it with the server's key.
    pub async fn query_decrypted(&self, sql: &'static str, id: i64) -> String {
        let stored = self.query_text(sql, id).await;
        self.running.as_ref().expect("server running").state.keys.decrypt(&stored).expect("decrypts")
    }

    /// Reads one text column of one row straight from the database.
    pub async fn query_text(&self, sql: &'static str, id: i64) -> String {
        let state = &self.running.as_ref().expect("server running").state;
        sqlx::query_scalar(sql).bind(id).fetch_one(&state.db.pool).await.expect("row")
    }
}

impl TestApp {
    /// The directory this server serves the SPA from.
    pub fn static_dir(&self) -> PathBuf {
        match &self.ui {
            UiSource::Dir(dir) => dir.clone(),
            UiSource::Embedded => panic!("this server sends the UI built into it, not a directory"),
        }
    }

    /// Sends `GET path` as written, over a plain connection: no client normalises `..` or
    /// `%2e%2e` first. Returns the status and the body.
    pub async fn raw_get(&self, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.expect("sends");
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await.expect("reads");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        (status, body.to_string())
    }
}

impl TestApp {
    /// How many stored events of a task contain `needle`.
    pub async fn count_events_containing(&self, task_id: i64, needle: &str) -> i64 {
        let state = &self.running.as_ref().expect("server running").state;
        sqlx::query_scalar("SELECT COUNT(*) FROM task_events WHERE task_id = $1 AND body LIKE $2")
            .bind(task_id)
            .bind(format!("%{needle}%"))
            .fetch_one(&state.db.pool)
            .await
            .expect("count")
    }
}

impl TestApp {
    /// The running server's state (its database, keys and settings).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn state(&self) -> &taskgate::state::AppState {
        &self.running.as_ref().expect("server running").state
    }

    /// Runs one statement with two integer parameters straight on the database.
    pub async fn execute(&self, sql: &'static str, a: i64, b: i64) {
        let state = &self.running.as_ref().expect("server running").state;
        sqlx::query(sql).bind(a).bind(b).execute(&state.db.pool).await.expect("statement");
    }
}

impl TestApp {
    /// Runs one statement with a text and an integer parameter straight on the database.
    pub async fn execute_text(&self, sql: &'static str, text: &str, id: i64) {
        let state = &self.running.as_ref().expect("server running").state;
        sqlx::query(sql).bind(text).bind(id).execute(&state.db.pool).await.expect("statement");
    }
}
