//! More Taskgate instances beside a test's server, as real processes that can be frozen
//! (SIGSTOP), killed (SIGKILL) or cut off from the database (through a [`Proxy`]), and a
//! TCP proxy whose connections a test can cut or black-hole.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::helpers::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_taskgate");

/// A `taskgate serve` process on the test server's database.
pub struct Instance {
    pub url: String,
    pub node: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

/// How to start an [`Instance`].
pub struct Config<'a> {
    pub data_dir: &'a std::path::Path,
    pub database_url: &'a str,
    pub secret_key: &'a str,
    pub node: &'a str,
    pub lease_secs: u64,
}

impl Instance {
    /// Starts an instance named `node` sharing `app`'s database (or `database_url`) and
    /// secret key, with a run lease of `lease_secs`.
    pub async fn start(app: &TestApp, node: &str, database_url: Option<&str>, lease_secs: u64) -> Instance {
        let settings = app.settings();
        let key = settings.secret_key.as_ref().expect("the test server has a key").expose_secret().to_string();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let config = Config {
            data_dir: &path,
            database_url: database_url.unwrap_or(&settings.database_url),
            secret_key: &key,
            node,
            lease_secs,
        };
        Instance::start_with(&config, Some(dir)).await
    }

    /// Starts an instance as `config` says (its data directory is the caller's).
    pub async fn start_with(config: &Config<'_>, own_dir: Option<tempfile::TempDir>) -> Instance {
        let node = config.node;
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(config.data_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("TASKGATE_LOG", "info,sqlx=warn")
            .env("TASKGATE_BIND", "127.0.0.1:0")
            .env("TASKGATE_DATA_DIR", config.data_dir)
            .env("DATABASE_URL", config.database_url)
            .env("TASKGATE_SECRET_KEY", config.secret_key)
            .env("TASKGATE_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
            .env("TASKGATE_NODE_ID", node)
            .env("TASKGATE_RUN_LEASE_SECS", config.lease_secs.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskgate starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = url_tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let url = tokio::task::spawn_blocking(move || url_rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("instance {node} did not start"));
        Instance { url, node: node.to_string(), child, log, _dir: own_dir }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.pid()]).status().unwrap().success();
        assert!(ok, "kill {sig} {}", self.pid());
    }

    /// Freezes the process, as a stalled VM or a long GC pause would.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Kills the process outright.
    pub fn kill(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    /// Log lines so far that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Waits (bounded) for a log line containing `needle`.
    pub async fn wait_log(&self, needle: &str) -> String {
        self.wait_log_any(&[needle]).await
    }

    /// Waits (bounded) for a log line containing one of `needles`.
    pub async fn wait_log_any(&self, needles: &[&str]) -> String {
        for _ in 0..600 {
            if let Some(l) = needles.iter().find_map(|n| self.log_lines(n).pop()) {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never logged any of {needles:?}; its log:\n{}", self.node, self.log.lock().unwrap().join("\n"));
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.pid()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bytes flow.
    Open,
    /// Nothing flows and nothing closes, as when a network path goes dark.
    Dark,
}

/// A TCP proxy on 127.0.0.1 in front of `upstream`.
pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Bumped to close every connection open now (new ones still flow).
    cuts: watch::Sender<u64>,
    /// Bumped to freeze every connection open now: nothing flows on it, nothing closes
    /// it (new ones still flow), as when a path or a peer hangs.
    freezes: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, mode_rx) = watch::channel(Mode::Open);
        let (cuts, cuts_rx) = watch::channel(0u64);
        let (freezes, freezes_rx) = watch::channel(0u64);
        let upstream = upstream.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let (upstream, mut mode, mut cuts) = (upstream.clone(), mode_rx.clone(), cuts_rx.clone());
                let mut freezes = freezes_rx.clone();
                tokio::spawn(async move {
                    cuts.mark_unchanged();
                    freezes.mark_unchanged();
                    // While dark, a new connection is held, and closed when the light returns.
                    let dark = *mode.borrow() == Mode::Dark;
                    if dark {
                        let _ = mode.wait_for(|m| *m == Mode::Open).await;
                        return;
                    }
                    let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let (went_dark, frozen) = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => (false, false),
                        _ = cuts.changed() => (false, false),
                        r = freezes.changed() => (false, r.is_ok()),
                        r = mode.wait_for(|m| *m == Mode::Dark) => (r.is_ok(), false),
                    };
                    if went_dark {
                        let _ = mode.wait_for(|m| *m == Mode::Open).await;
                    }
                    if frozen {
                        // Held open, silent, until the test ends.
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
        Proxy { port, mode, cuts, freezes, task }
    }

    /// Closes every connection open now, as a dropped network path would.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Freezes every connection open now (new ones flow).
    pub fn freeze(&self) {
        self.freezes.send_modify(|n| *n += 1);
    }

    /// Stops all traffic without closing anything (`true`), or lets it flow again
    /// (`false`; the connections held meanwhile are closed).
    pub fn go_dark(&self, dark: bool) {
        self.mode.send_replace(if dark { Mode::Dark } else { Mode::Open });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
