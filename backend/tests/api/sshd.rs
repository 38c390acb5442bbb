//! A real OpenSSH `sshd` for executor tests: its own host key and authorized client key,
//! listening on loopback addresses on a free port; killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::TestApp;

pub struct TestSshd {
    pub port: u16,
    pub addresses: Vec<String>,
    /// `SHA256:…` of the host key.
    pub fingerprint: String,
    /// The client's OpenSSH private key (authorized on this sshd).
    pub client_key: String,
    pub user: String,
    child: Child,
    _dir: tempfile::TempDir,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "taskgate-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed");
    assert!(status.success());
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sshd_binary() -> &'static str {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].into_iter().find(|p| Path::new(p).exists()).expect(
        "OpenSSH sshd is needed for executor tests: `bash scripts/test.sh` installs it (apt-get install openssh-server)",
    )
}

/// The shell a test host runs commands with: its `/bin/sh` and its account's login shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostShell {
    /// Debian's and Ubuntu's `/bin/sh`, and the login shell `useradd` gives there.
    Dash,
    /// RHEL's `/bin/sh`.
    Bash,
    /// Alpine's `/bin/sh` (busybox ash).
    Busybox,
}

impl HostShell {
    /// The account with this login shell (created by scripts/test.sh).
    pub fn account(self) -> &'static str {
        match self {
            HostShell::Dash => "taskgate-sh-dash",
            HostShell::Bash => "taskgate-sh-bash",
            HostShell::Busybox => "taskgate-sh-ash",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            HostShell::Dash => "/usr/bin/dash",
            HostShell::Bash => "/usr/bin/bash",
            HostShell::Busybox => "/usr/bin/busybox",
        }
    }
}

/// The account password tests log in as (created by scripts/test.sh).
pub const PASSWORD_USER: &str = "taskgate-ssh-test";
pub const PASSWORD_USER_PASSWORD: &str = "Tg-ssh-test-pass-1";

impl TestSshd {
    pub async fn start() -> TestSshd {
        Self::start_on(&["127.0.0.1"]).await
    }

    /// Listens on every address given (any of 127.0.0.0/8).
    pub async fn start_on(addresses: &[&str]) -> TestSshd {
        Self::start_with(addresses, false, free_port()).await
    }

    /// Also accepts passwords (for the account `PASSWORD_USER`).
    pub async fn start_with_passwords() -> TestSshd {
        let ok = Command::new("id").arg(PASSWORD_USER).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "password tests need the account {PASSWORD_USER}: `bash scripts/test.sh` creates it");
        Self::start_with(&["127.0.0.1"], true, free_port()).await
    }

    /// A daemon with a new host key on `port` of 127.0.0.1 (after another one there stopped).
    pub async fn start_on_port(port: u16) -> TestSshd {
        Self::start_with(&["127.0.0.1"], false, port).await
    }

    /// A host whose `/bin/sh` and login shell are `shell`: sshd runs in a mount namespace
    /// where `shell` is bound over `/bin/sh`'s target, and logs in an account whose
    /// login shell it is (created by scripts/test.sh).
    pub async fn start_as(shell: HostShell) -> TestSshd {
        let ok = Command::new("id").arg(shell.account()).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "the account {} is needed: `bash scripts/test.sh` creates it", shell.account());
        Self::start_full(&["127.0.0.1"], false, free_port(), Some(shell)).await
    }

    async fn start_with(addresses: &[&str], passwords: bool, port: u16) -> TestSshd {
        Self::start_full(addresses, passwords, port, None).await
    }

    async fn start_full(addresses: &[&str], passwords: bool, port: u16, shell: Option<HostShell>) -> TestSshd {
        let dir = tempfile::tempdir().unwrap();
        if shell.is_some() {
            // The account reads its authorized keys itself.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let host_key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        std::fs::copy(dir.path().join("client_key.pub"), dir.path().join("authorized_keys")).unwrap();
        if shell.is_some() {
            use std::os::unix::fs::PermissionsExt;
            let keys = dir.path().join("authorized_keys");
            std::fs::set_permissions(keys, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let fp = Command::new("ssh-keygen").arg("-lf").arg(dir.path().join("host_key.pub")).output().unwrap();
        let fingerprint = String::from_utf8_lossy(&fp.stdout).split_whitespace().nth(1).unwrap().to_string();
        let mut config = format!(
            "Port {port}\nHostKey {hk}\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication {pw}\n\
             KbdInteractiveAuthentication no\nMaxStartups 1000:30:2000\nMaxSessions 1000\nLogLevel ERROR\n",
            hk = host_key.display(),
            dir = dir.path().display(),
            pw = if passwords { "yes" } else { "no" }
        );
        for a in addresses {
            config.push_str(&format!("ListenAddress {a}\n"));
        }
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        // sshd insists on its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let config_path = dir.path().join("sshd_config");
        let mut command = match shell {
            None => {
                let mut c = Command::new(sshd_binary());
                c.args(["-D", "-e", "-f"]).arg(&config_path);
                c
            }
            Some(shell) => {
                let sh = std::fs::canonicalize("/bin/sh").expect("/bin/sh exists");
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                    .arg(r#"mount --bind "$1" "$2" && exec "$3" -D -e -f "$4""#)
                    .arg("sh")
                    .arg(shell.binary())
                    .arg(&sh)
                    .arg(sshd_binary())
                    .arg(&config_path);
                c
            }
        };
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("sshd starts");
        for _ in 0..200 {
            if addresses.iter().all(|a| std::net::TcpStream::connect((*a, port)).is_ok()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let user = match shell {
            Some(shell) => shell.account().to_string(),
            None => {
                String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string()
            }
        };
        TestSshd {
            port,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            fingerprint,
            client_key: std::fs::read_to_string(client_key).unwrap(),
            user,
            child,
            _dir: dir,
        }
    }
}

/// `pid` and all its descendants (sshd's connection processes start their own sessions,
/// so a process group does not reach them).
fn process_tree(pid: u32) -> Vec<u32> {
    let out = Command::new("ps").args(["-eo", "pid=,ppid="]).output().unwrap();
    let pairs: Vec<(u32, u32)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(pairs.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree
}

impl TestSshd {
    /// Kills the daemon and every connection it serves, as a crashed host would.
    pub fn drop_connections(&mut self) {
        for pid in process_tree(self.child.id()) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = self.child.wait();
    }
}

/// A plain TCP listener on loopback that counts the connections it gets: the place a
/// credential must never be sent to.
pub struct Trap {
    pub port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Trap {
    pub async fn start() -> Trap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((_conn, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Trap { port, hits, task }
    }

    pub fn connections(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes on this machine whose command line contains `needle` (the sshd is local).
pub fn processes_matching(needle: &str) -> Vec<String> {
    let out = Command::new("ps").args(["-eo", "pid,args"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle) && !l.contains("ps -eo"))
        .map(str::to_string)
        .collect()
}

impl TestApp {
    /// Registers the sshd's addresses as hosts (`h1`, `h2`, …) with the client key and the
    /// pinned host key. Returns the host names.
    pub async fn register_hosts(&self, sshd: &TestSshd) -> Vec<String> {
        let cred = self
            .post(
                "/api/v1/credentials",
                &self.admin_token,
                &json!({"name": format!("key-{}", sshd.port), "kind": "private_key", "secret": sshd.client_key}),
            )
            .await
            .expect(201);
        let mut names = Vec::new();
        for (i, a) in sshd.addresses.iter().enumerate() {
            let name = format!("h{}", i + 1);
            self.post(
                "/api/v1/hosts",
                &self.admin_token,
                &json!({"name": name, "address": a, "port": sshd.port, "user": sshd.user,
                        "credential_id": cred["id"], "host_key_fingerprint": sshd.fingerprint}),
            )
            .await
            .expect(201);
            names.push(name);
        }
        names
    }

    /// Creates a template from `steps` and returns its id.
    pub async fn template(&self, name: &str, extra: Value, steps: Value) -> i64 {
        let mut body = json!({"name": name, "steps": steps});
        if let Value::Object(map) = extra {
            for (k, v) in map {
                body[k] = v;
            }
        }
        self.post("/api/v1/templates", &self.admin_token, &body).await.expect(201)["id"].as_i64().unwrap()
    }

    /// Submits a ready task and returns its id.
    pub async fn run_task(&self, template_id: i64, args: Value, hosts: Value) -> i64 {
        let body = json!({"template_id": template_id, "schedule": "ready", "args": args, "hosts": hosts});
        self.post("/api/v1/tasks", &self.admin_token, &body).await.expect(201)["id"].as_i64().unwrap()
    }

    /// Waits (bounded) until the task's status is one of `wanted`; returns the run view.
    pub async fn wait_status(&self, task_id: i64, wanted: &[&str]) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            last = self.get(&format!("/api/v1/tasks/{task_id}/run"), &self.admin_token).await.expect(200);
            if wanted.iter().any(|w| last["status"] == *w) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("task {task_id} never reached {wanted:?}; last: {last}");
    }

    /// Waits (bounded) until some pair of the task reaches `status`.
    pub async fn wait_pair(&self, task_id: i64, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            last = self.get(&format!("/api/v1/tasks/{task_id}/run"), &self.admin_token).await.expect(200);
            if last["pairs"].as_array().unwrap().iter().any(|p| p["status"] == status) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no pair of task {task_id} reached {status}; last: {last}");
    }

    /// Every log line of the task (all pages).
    pub async fn all_logs(&self, task_id: i64) -> Vec<Value> {
        let mut lines = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("/api/v1/tasks/{task_id}/logs?after={after}&limit=500"), &self.admin_token)
                .await
                .expect(200);
            let got = page["lines"].as_array().unwrap().clone();
            if got.is_empty() {
                return lines;
            }
            after = page["next_after"].as_i64().unwrap();
            lines.extend(got);
        }
    }
}

/// The text lines of one (step, host), in order.
pub fn lines_of(logs: &[Value], step: i64, host: &str, stream: &str) -> Vec<String> {
    logs.iter()
        .filter(|l| l["step"] == step && l["host"] == host && l["stream"] == stream)
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

pub fn pair<'a>(run: &'a Value, step: i64, host: &str) -> &'a Value {
    run["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["step"] == step && p["host"] == host)
        .unwrap_or_else(|| panic!("no pair {step}/{host} in {run}"))
}
