//! The `taskgate` binary as an operator runs it: first start, admin commands, SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_taskgate");

/// A `taskgate serve` child process whose log lines are collected as they come.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Served {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Served {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve");
        Served::spawn(cmd, dir, env)
    }

    /// Starts `taskgate serve` under `umask 000`, so that only the modes the server asks
    /// for protect its files.
    fn start_without_umask(dir: &Path, env: &[(&str, &str)]) -> Served {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask 000 && exec \"$0\" serve", BIN]);
        Served::spawn(cmd, dir, env)
    }

    fn spawn(mut cmd: Command, dir: &Path, env: &[(&str, &str)]) -> Served {
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TASKGATE_BIND", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("taskgate starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Served { child, lines, seen: Vec::new() }
    }

    /// Waits (bounded) for a log line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {needle:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn url(&mut self) -> String {
        let line = self.wait_for("Taskgate is listening on ");
        let rest = line.split("listening on ").nth(1).unwrap();
        rest.split_whitespace().next().unwrap().to_string()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().ok();
        panic!("taskgate did not stop after SIGTERM");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out =
        Command::new(BIN).args(args).current_dir(dir).envs(env.iter().copied()).env("NO_COLOR", "1").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn login(url: &str, user: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_start_creates_the_database_prints_a_password_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(dir.path(), &[]);
    let url = served.url();
    let line = served.wait_for("created user `admin` with password `");
    let password = line.split("password `").nth(1).unwrap().split('`').next().unwrap().to_string();
    assert!(dir.path().join("data/taskgate.db").exists(), "SQLite database under ./data/");
    assert!(dir.path().join("data/secret.key").exists(), "secret key generated under ./data/");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret key is private");
    }
    let answer: Value = login(&url, "admin", &password).await.json().await.unwrap();
    assert_eq!(answer["user"]["role"], "admin");

    let status = served.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    served.wait_for("stopped");

    // The second start keeps the data and does not print a password again.
    let mut again = Served::start(dir.path(), &[]);
    let url = again.url();
    again.wait_for("log in with your account");
    assert_eq!(login(&url, "admin", &password).await.status(), 200);
    assert!(!again.seen.iter().any(|l| l.contains("created user")));
    again.terminate();
}

#[tokio::test]
async fn user_add_and_token_create_work_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("TASKGATE_ADMIN_PASSWORD", "admin-password-1")];
    let (ok, out, err) = run(dir.path(), &["migrate"], &env);
    assert!(ok, "{out}{err}");
    let (ok, out, err) =
        run(dir.path(), &["user", "add", "hook", "--role", "operator", "--password", "hook-password-1"], &env);
    assert!(ok, "{out}{err}");
    assert!(out.contains("created user hook (operator)"));
    let (ok, out, err) = run(dir.path(), &["user", "add", "hook", "--password", "hook-password-1"], &env);
    assert!(!ok && err.contains("already exists"), "{out}{err}");
    let (ok, token, err) = run(
        dir.path(),
        &["token", "create", "--user", "hook", "--name", "gitlab", "--scopes", "read,task:submit"],
        &env,
    );
    assert!(ok, "{token}{err}");
    let token = token.trim().to_string();
    assert!(err.contains("shown only this once"));
    let (ok, _, err) =
        run(dir.path(), &["token", "create", "--user", "hook", "--name", "x", "--scopes", "admin"], &env);
    assert!(!ok && err.contains("admin needs the admin role"), "{err}");

    let mut served = Served::start(dir.path(), &env);
    let url = served.url();
    let me: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "hook");
    assert_eq!(login(&url, "hook", "hook-password-1").await.status(), 200);
    served.terminate();
}

#[tokio::test]
async fn database_url_runs_the_same_product_on_postgresql() {
    use sqlx::{AnyConnection, Connection, Executor};
    sqlx::any::install_default_drivers();
    let admin =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("taskgate_cli_{}", uuid::Uuid::new_v4().simple());
    let mut conn = AnyConnection::connect(&admin).await.expect("PostgreSQL is running");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    let dir = tempfile::tempdir().unwrap();
    let env = [("DATABASE_URL", url.as_str()), ("TASKGATE_ADMIN_PASSWORD", "admin-password-1")];
    let mut served = Served::start(dir.path(), &env);
    let base = served.url();
    assert_eq!(login(&base, "admin", "admin-password-1").await.status(), 200);
    assert!(!dir.path().join("data/taskgate.db").exists(), "no SQLite file when DATABASE_URL is PostgreSQL");
    assert!(served.terminate().success());
    let mut db = AnyConnection::connect(&url).await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut db).await.unwrap();
    assert_eq!(users, 1, "the admin was created in PostgreSQL");
    db.close().await.ok();
    conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).await.unwrap();
}

#[test]
fn migrate_needs_no_key_and_token_create_refuses_to_invent_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(dir.path(), &["migrate"], &[]);
    assert!(ok, "{out}{err}");
    assert!(!dir.path().join("data/secret.key").exists(), "migrate does not create a secret key");
    let (ok, _, err) = run(dir.path(), &["user", "add", "bot", "--password", "bot-password-1"], &[]);
    assert!(ok, "{err}");
    std::fs::remove_file(dir.path().join("data/secret.key")).unwrap();
    let (ok, out, err) = run(dir.path(), &["token", "create", "--user", "bot", "--name", "x"], &[]);
    assert!(!ok && out.is_empty(), "no token without the server's key: {out}");
    assert!(err.contains("no secret key"), "{err}");
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taskgate.toml"), "bind = \"127.0.0.1:0\"\ntimezone = \"Mars/Olympus\"\n").unwrap();
    let (ok, _, err) = run(dir.path(), &["migrate"], &[]);
    assert!(!ok);
    assert!(err.contains("Mars/Olympus") && err.contains("IANA"), "{err}");
}

#[tokio::test]
async fn tokens_in_query_strings_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut served =
        Served::start(dir.path(), &[("TASKGATE_LOG", "debug"), ("TASKGATE_ADMIN_PASSWORD", "admin-password-1")]);
    let url = served.url();
    let secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.sig";
    let resp = reqwest::get(format!("{url}/api/task/v2/task/accept/?auth_key={secret}")).await.unwrap();
    assert_eq!(resp.status(), 401);
    reqwest::get(format!("{url}/healthz")).await.unwrap();
    served.wait_for("path=\"/healthz\"");
    served.terminate();
    while let Ok(line) = served.lines.recv_timeout(Duration::from_secs(5)) {
        served.seen.push(line);
    }
    assert!(served.seen.iter().any(|l| l.contains("/api/task/v2/task/accept/")), "requests are logged");
    assert!(!served.seen.iter().any(|l| l.contains(secret)), "the token was logged:\n{}", served.seen.join("\n"));
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_everything_in_it_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start_without_umask(dir.path(), &[("TASKGATE_ADMIN_PASSWORD", "admin-password-1")]);
    let url = served.url();
    // A write, so that the WAL and its index exist.
    assert_eq!(login(&url, "admin", "admin-password-1").await.status(), 200);
    let data = dir.path().join("data");
    let mut modes = vec![("data".to_string(), format!("{:o}", mode_of(&data)))];
    for name in ["taskgate.db", "taskgate.db-wal", "taskgate.db-shm", "secret.key", "node.id"] {
        modes.push((name.to_string(), format!("{:o}", mode_of(&data.join(name)))));
    }
    served.terminate();
    let expected: Vec<(String, String)> =
        modes.iter().map(|(name, _)| (name.clone(), if name == "data" { "700" } else { "600" }.to_string())).collect();
    assert_eq!(modes, expected, "modes of the data directory and its files");
}

#[cfg(unix)]
#[test]
fn a_secret_key_others_can_read_or_too_short_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let add = ["user", "add", "kim", "--password", "kim-password-1"];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let key = data.join("secret.key");

    std::fs::write(&key, "a-perfectly-long-secret-key-of-48-characters-xyz").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = run(dir.path(), &add, &[]);
    assert!(!ok && err.contains("secret.key") && err.contains("chmod 600"), "{err}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&key, "").unwrap();
    let (ok, _, err) = run(dir.path(), &add, &[]);
    assert!(!ok && err.contains("secret.key") && err.contains("is empty"), "{err}");
    std::fs::write(&key, "guessable\n").unwrap();
    let (ok, _, err) = run(dir.path(), &add, &[]);
    assert!(!ok && err.contains("secret.key") && err.contains("too short"), "{err}");

    let (ok, _, err) = run(dir.path(), &add, &[("TASKGATE_SECRET_KEY", "hunter2")]);
    assert!(!ok && err.contains("TASKGATE_SECRET_KEY") && err.contains("too short"), "{err}");

    std::fs::write(&key, "a-perfectly-long-secret-key-of-48-characters-xyz").unwrap();
    let (ok, out, err) = run(dir.path(), &add, &[]);
    assert!(ok, "a private key of fair length is used: {out}{err}");
}

#[tokio::test]
async fn a_login_name_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(dir.path(), &[("TASKGATE_ADMIN_PASSWORD", "admin-password-1")]);
    let url = served.url();
    let forged = "mallory\n2026-11-24T05:44:22.230Z  INFO taskgate: admin logged in\u{1b}[2K\rX";
    assert_eq!(login(&url, forged, "guess-guess-1").await.status(), 401);
    let line = served.wait_for("failed login");
    served.terminate();
    while let Ok(rest) = served.lines.recv_timeout(Duration::from_secs(5)) {
        served.seen.push(rest);
    }
    assert!(line.contains(r#"mallory\n2026-11-24T05:44:22.230Z"#), "the name is escaped: {line}");
    let seen = served.seen.join("\n");
    assert!(!served.seen.iter().any(|l| l.starts_with("2026-11-24T05:44:22.230Z")), "a forged line:\n{seen}");
    assert!(!seen.contains('\u{1b}') && !seen.contains('\r'), "raw control characters reached the log:\n{seen}");
}
