//! Where a step runs: an SSH session to a host (one per host per run, reused for all its
//! steps) or the Taskgate server itself. Both report the step's process group, so that a
//! timeout or an abort kills the whole group and confirms it is gone.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::kill::{kill_script, KillReport, StepGroup};
use super::logs::PairLog;
use super::render::{parse_group, PGID_MARKER};

/// How a host proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only this fingerprint (`SHA256:…`), pinned on the host, is accepted.
    Pinned(String),
    /// Only this fingerprint, recorded on first use for the host's address and port.
    Recorded(String),
    /// No key known yet and the host is marked trust-on-first-use: the key offered is
    /// recorded (compare-and-set) before any credential is sent, and accepted only if it
    /// is the key recorded.
    TrustOnFirstUse,
}

/// Records a first-use key for the target's address and port; answers the key recorded
/// there (this one, or the one another run recorded first).
pub type RecordFirstUse =
    Arc<dyn Fn(String) -> futures_util::future::BoxFuture<'static, Result<String, String>> + Send + Sync>;

#[derive(Clone)]
pub enum Auth {
    Key { pem: String, passphrase: Option<String> },
    Password(String),
}

/// Everything needed to reach one host.
#[derive(Clone)]
pub struct Target {
    /// The host as the task names it.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    pub host_key: HostKeyPolicy,
    /// The registered host (for pinning a first-use key).
    pub host_id: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("host key mismatch: expected {expected}, the host offered {offered}")]
    HostKeyMismatch { expected: String, offered: String },
    #[error("cannot record the first-use host key: {0}")]
    Recording(String),
    #[error("login refused for user {0}")]
    LoginRefused(String),
    #[error("{0}")]
    Other(String),
}

pub struct Client {
    policy: HostKeyPolicy,
    record: Option<RecordFirstUse>,
    offered: Arc<Mutex<Option<String>>>,
    /// What deciding on the key found: the key expected, or why it could not decide.
    expected: Arc<Mutex<Option<Result<String, String>>>>,
}

fn fingerprint(key: &PublicKeyOrCertificate) -> String {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256).to_string(),
        PublicKeyOrCertificate::Certificate(cert) => cert.public_key().fingerprint(HashAlg::Sha256).to_string(),
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let offered = fingerprint(key);
        *self.offered.lock().expect("fingerprint lock") = Some(offered.clone());
        let expected = match (&self.policy, &self.record) {
            (HostKeyPolicy::Pinned(fp) | HostKeyPolicy::Recorded(fp), _) => Ok(fp.clone()),
            (HostKeyPolicy::TrustOnFirstUse, Some(record)) => record(offered.clone()).await,
            (HostKeyPolicy::TrustOnFirstUse, None) => Err("no way to record it".to_string()),
        };
        let ok = expected.as_ref().is_ok_and(|e| *e == offered);
        *self.expected.lock().expect("fingerprint lock") = Some(expected);
        Ok(ok)
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i64),
    Signalled(String),
    TimedOut {
        kill_confirmed: Option<bool>,
    },
    Aborted {
        kill_confirmed: Option<bool>,
    },
    /// The session or the connection broke (the host is then unreachable).
    Lost(String),
}

/// One step to run: the program `/bin/sh -s` reads on its standard input
/// (`render::program`), which holds the variables and the script.
pub struct StepSpec<'a> {
    pub program: &'a str,
    pub timeout: Duration,
    /// Told the step's process group as soon as it is known, so that it can be recorded
    /// (and killed later through another connection, or by another instance).
    pub pgid: &'a watch::Sender<Option<StepGroup>>,
    /// The nonce the program's report of its group carries (`render::program`).
    pub nonce: &'a str,
}

/// The only command line a step has: nothing secret, no script text.
pub const COMMAND: &str = "exec /bin/sh -s";

pub enum Remote {
    Ssh(Handle<Client>),
    Local,
}

/// Keep-alives a connection may miss before it counts as lost.
pub const KEEPALIVE_MAX: usize = 3;

fn ssh_config(keepalive: Duration) -> Arc<client::Config> {
    let mut config = client::Config {
        keepalive_interval: Some(keepalive),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..Default::default()
    };
    // curve25519 first: a fraction of the CPU of OpenSSH's default sntrup761 hybrid.
    let first = [russh::kex::CURVE25519, russh::kex::CURVE25519_PRE_RFC_8731];
    let mut kex = first.to_vec();
    kex.extend(config.preferred.kex.iter().filter(|k| !first.contains(k)).cloned());
    config.preferred.kex = kex.into();
    Arc::new(config)
}

impl Remote {
    /// Connects and logs in. Returns the session and the host key fingerprint seen.
    /// `record` keeps a first-use key (for `HostKeyPolicy::TrustOnFirstUse`); a
    /// connection that misses [`KEEPALIVE_MAX`] keep-alives `keepalive` apart is lost.
    pub async fn connect(
        target: &Target,
        timeout: Duration,
        record: Option<RecordFirstUse>,
        keepalive: Duration,
    ) -> Result<(Remote, String), ConnectError> {
        let offered = Arc::new(Mutex::new(None));
        let expected = Arc::new(Mutex::new(None));
        let handler =
            Client { policy: target.host_key.clone(), record, offered: offered.clone(), expected: expected.clone() };
        let addr = (target.address.trim_start_matches('[').trim_end_matches(']').to_string(), target.port);
        let connecting = async {
            let mut handle = client::connect(ssh_config(keepalive), addr, handler).await.map_err(|e| {
                let seen = offered.lock().expect("fingerprint lock").clone();
                let decided = expected.lock().expect("fingerprint lock").clone();
                match (e, decided, seen) {
                    (russh::Error::UnknownKey, Some(Ok(expected)), Some(offered)) => {
                        ConnectError::HostKeyMismatch { expected, offered }
                    }
                    (russh::Error::UnknownKey, Some(Err(why)), _) => ConnectError::Recording(why),
                    (e, _, _) => ConnectError::Unreachable(format!("{}:{}: {e}", target.address, target.port)),
                }
            })?;
            let result = match &target.auth {
                Auth::Key { pem, passphrase } => {
                    let key = russh::keys::decode_secret_key(pem, passphrase.as_deref())
                        .map_err(|e| ConnectError::Other(format!("the host's private key cannot be read: {e}")))?;
                    let hash = if key.algorithm().is_rsa() {
                        handle.best_supported_rsa_hash().await.ok().flatten().flatten()
                    } else {
                        None
                    };
                    handle.authenticate_publickey(&target.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash)).await
                }
                Auth::Password(pw) => handle.authenticate_password(&target.user, pw).await,
            }
            .map_err(|e| ConnectError::Unreachable(format!("{}: {e}", target.address)))?;
            if !result.success() {
                return Err(ConnectError::LoginRefused(target.user.clone()));
            }
            Ok(handle)
        };
        let handle = tokio::time::timeout(timeout, connecting).await.map_err(|_| {
            ConnectError::Unreachable(format!("{}:{}: no answer within {timeout:?}", target.address, target.port))
        })??;
        let fp = offered.lock().expect("fingerprint lock").clone().unwrap_or_default();
        Ok((Remote::Ssh(handle), fp))
    }

    pub async fn close(self) {
        if let Remote::Ssh(handle) = self {
            let _ = handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
    }

    /// Kills a step's process group (and its session) where this runs, and says what it saw.
    pub async fn kill(&self, group: &StepGroup) -> KillReport {
        let report = match self {
            Remote::Ssh(handle) => tokio::time::timeout(KILL_TIMEOUT, kill_group_ssh(handle, group)).await,
            Remote::Local => tokio::time::timeout(KILL_TIMEOUT, kill_group_local(group)).await,
        };
        match report {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => KillReport::Unknown(format!("the kill could not run: {e}")),
            Err(_) => KillReport::Unknown(format!("the kill did not finish within {} s", KILL_TIMEOUT.as_secs())),
        }
    }

    /// Runs one step to its end, a timeout, or an abort.
    pub async fn run(&self, step: &StepSpec<'_>, log: &mut PairLog, abort: &mut watch::Receiver<bool>) -> Outcome {
        // Nothing is started once an abort (or the loss of the run) is known.
        if *abort.borrow() {
            return Outcome::Aborted { kill_confirmed: None };
        }
        match self {
            Remote::Ssh(handle) => run_ssh(handle, step, log, abort).await,
            Remote::Local => run_local(step, log, abort).await,
        }
    }
}

/// Takes the wrapper's report of its group out of the step's stderr. The report carries
/// the program's nonce; lines before it (a login script's noise) are the step's stderr.
/// Given up after [`HEAD_LIMIT`] bytes without a report.
struct Stderr {
    head: Option<Vec<u8>>,
    pgid: Option<StepGroup>,
    nonce: String,
}

/// How much stderr is held back while the group's report is awaited.
const HEAD_LIMIT: usize = 64 * 1024;

impl Stderr {
    fn new(nonce: &str) -> Self {
        Stderr { head: Some(Vec::new()), pgid: None, nonce: nonce.to_string() }
    }

    /// Returns the bytes that belong to the step's own stderr. The report may follow, on
    /// its line, text a login script printed without a newline: that text is stderr too.
    fn take(&mut self, bytes: &[u8]) -> Vec<u8> {
        let Some(head) = self.head.as_mut() else { return bytes.to_vec() };
        head.extend_from_slice(bytes);
        let marker = PGID_MARKER.as_bytes();
        let mut start = 0;
        while let Some(pos) = head[start..].iter().position(|b| *b == b'\n') {
            let line = &head[start..start + pos];
            if let Some(at) = line.windows(marker.len()).position(|w| w == marker) {
                let report = String::from_utf8_lossy(&line[at..]).into_owned();
                if let Some(group) = parse_group(&report, &self.nonce) {
                    self.pgid = Some(group);
                    let head = self.head.take().expect("head present");
                    let mut out = head[..start + at].to_vec();
                    out.extend_from_slice(&head[start + pos + 1..]);
                    return out;
                }
            }
            start += pos + 1;
        }
        // Only complete lines count towards the limit: a report cut by a read is awaited.
        if start > HEAD_LIMIT {
            return self.head.take().expect("head present");
        }
        Vec::new()
    }

    /// What is held back, to be logged when the step ends however it ends.
    fn flush(&mut self) -> Vec<u8> {
        self.head.take().unwrap_or_default()
    }
}

async fn wait_abort(abort: &mut watch::Receiver<bool>) {
    if abort.wait_for(|a| *a).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run_ssh(
    handle: &Handle<Client>,
    step: &StepSpec<'_>,
    log: &mut PairLog,
    abort: &mut watch::Receiver<bool>,
) -> Outcome {
    let mut channel = match handle.channel_open_session().await {
        Ok(c) => c,
        Err(e) => return Outcome::Lost(format!("cannot open a session: {e}")),
    };
    if let Err(e) = channel.exec(true, COMMAND).await {
        return Outcome::Lost(format!("cannot start the command: {e}"));
    }
    // The program goes in on stdin, then EOF. It is written while the output is read, so
    // neither side waits on the other; a write that fails (the session ended) leaves a
    // program cut short, which sh refuses to run.
    let mut writer = channel.make_writer();
    let feeding = async move {
        writer.write_all(step.program.as_bytes()).await?;
        writer.shutdown().await
    };
    tokio::pin!(feeding);
    let mut fed = false;
    let mut stderr = Stderr::new(step.nonce);
    let (mut code, mut signal) = (None, None);
    let deadline = tokio::time::sleep(step.timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            done = &mut feeding, if !fed => {
                fed = true;
                if let Err(e) = done {
                    tracing::debug!(error = %e, "sending a step's program failed");
                }
            }
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => log.data(false, &data).await,
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    let rest = stderr.take(&data);
                    if stderr.pgid.is_some() && step.pgid.borrow().is_none() {
                        step.pgid.send_replace(stderr.pgid.clone());
                    }
                    if !rest.is_empty() {
                        log.data(true, &rest).await;
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => code = Some(i64::from(exit_status)),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => signal = Some(format!("{signal_name:?}")),
                Some(_) => {}
                None => break,
            },
            _ = &mut deadline => {
                await_pgid(&mut channel, &mut stderr, step, log).await;
                let kill_confirmed = kill_remote(handle, stderr.pgid.as_ref(), log).await;
                let _ = channel.close().await;
                log_held(&mut stderr, log).await;
                return Outcome::TimedOut { kill_confirmed };
            }
            _ = wait_abort(abort) => {
                await_pgid(&mut channel, &mut stderr, step, log).await;
                let kill_confirmed = kill_remote(handle, stderr.pgid.as_ref(), log).await;
                let _ = channel.close().await;
                log_held(&mut stderr, log).await;
                return Outcome::Aborted { kill_confirmed };
            }
        }
    }
    if let Some(rest) = stderr.head.take().filter(|h| !h.is_empty()) {
        log.data(true, &rest).await;
    }
    match (code, signal) {
        (Some(c), _) => Outcome::Exited(c),
        (None, Some(s)) => Outcome::Signalled(s),
        (None, None) => Outcome::Lost("the connection closed before the command ended".into()),
    }
}

/// An abort or timeout may come before the wrapper has reported its process group: read
/// on (up to 5 s) until it has, so that the kill has a group to aim at.
async fn await_pgid(
    channel: &mut russh::Channel<client::Msg>,
    stderr: &mut Stderr,
    step: &StepSpec<'_>,
    log: &mut PairLog,
) {
    let reading = async {
        while stderr.pgid.is_none() {
            match channel.wait().await {
                Some(ChannelMsg::Data { data }) => log.data(false, &data).await,
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    let rest = stderr.take(&data);
                    if !rest.is_empty() {
                        log.data(true, &rest).await;
                    }
                }
                Some(_) => {}
                None => return,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), reading).await;
    // Recorded like any report, for a kill through another connection.
    if stderr.pgid.is_some() && step.pgid.borrow().is_none() {
        step.pgid.send_replace(stderr.pgid.clone());
    }
}

/// Logs the stderr held back while the group's report was awaited.
async fn log_held(stderr: &mut Stderr, log: &mut PairLog) {
    let held = stderr.flush();
    if !held.is_empty() {
        log.data(true, &held).await;
    }
}

/// How long a kill program may take (it signals, waits two seconds, and looks again).
const KILL_TIMEOUT: Duration = Duration::from_secs(20);

/// Kills a remote process group through a second session, the kill program on its
/// stdin (`/bin/sh -s`, whatever the login shell is); `Some(true)` only when the program
/// saw the group gone. What it saw goes to the pair's log.
async fn kill_remote(handle: &Handle<Client>, group: Option<&StepGroup>, log: &mut PairLog) -> Option<bool> {
    let Some(group) = group else {
        log.system("could not kill the step's processes: its process group was never reported").await;
        return None;
    };
    let report = match tokio::time::timeout(KILL_TIMEOUT, kill_group_ssh(handle, group)).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => KillReport::Unknown(format!("the kill could not run: {e}")),
        Err(_) => KillReport::Unknown(format!("the kill did not finish within {} s", KILL_TIMEOUT.as_secs())),
    };
    log.system(&report.describe(group.pgid)).await;
    Some(report.confirmed())
}

async fn kill_group_ssh(handle: &Handle<Client>, group: &StepGroup) -> Result<KillReport, String> {
    let mut ch = handle.channel_open_session().await.map_err(|e| e.to_string())?;
    ch.exec(true, COMMAND).await.map_err(|e| e.to_string())?;
    ch.data(kill_script(group).as_bytes()).await.map_err(|e| e.to_string())?;
    ch.eof().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(msg) = ch.wait().await {
        if let ChannelMsg::Data { data } = msg {
            out.extend_from_slice(&data);
        }
    }
    Ok(KillReport::parse(&String::from_utf8_lossy(&out)))
}

async fn kill_group_local(group: &StepGroup) -> Result<KillReport, String> {
    let mut sh = tokio::process::Command::new("/bin/sh")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = sh.stdin.take().expect("piped");
    stdin.write_all(kill_script(group).as_bytes()).await.map_err(|e| e.to_string())?;
    drop(stdin);
    let out = sh.wait_with_output().await.map_err(|e| e.to_string())?;
    Ok(KillReport::parse(&String::from_utf8_lossy(&out.stdout)))
}

async fn run_local(step: &StepSpec<'_>, log: &mut PairLog, abort: &mut watch::Receiver<bool>) -> Outcome {
    // A clean environment: the server's own (database URL, secret key, admin password)
    // must not reach a step. Only a standard PATH is given; the program exports the
    // task's variables, so neither they nor the script appear on a command line.
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-s")
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir("/tmp")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Lost(format!("cannot start /bin/sh: {e}")),
    };
    let group = child.id().map(local_group);
    step.pgid.send_replace(group.clone());
    let mut stdin = child.stdin.take().expect("piped");
    let program = step.program.to_string();
    // Written aside so that a large program never waits on output nobody reads yet; a
    // failed write leaves a program cut short, which sh refuses to run.
    tokio::spawn(async move {
        let _ = stdin.write_all(program.as_bytes()).await;
    });
    let (mut out, mut err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    let deadline = tokio::time::sleep(step.timeout);
    tokio::pin!(deadline);
    let stopped = loop {
        if !(out_open || err_open) {
            break None;
        }
        tokio::select! {
            n = out.read(&mut out_buf), if out_open => match n {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => log.data(false, &out_buf[..n]).await,
            },
            n = err.read(&mut err_buf), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => log.data(true, &err_buf[..n]).await,
            },
            _ = &mut deadline => break Some(false),
            _ = wait_abort(abort) => break Some(true),
        }
    };
    let stopped = match stopped {
        Some(aborted) => aborted,
        None => tokio::select! {
            status = child.wait() => return match status {
                Ok(s) => match s.code() {
                    Some(c) => Outcome::Exited(i64::from(c)),
                    None => Outcome::Signalled(format!("{s}")),
                },
                Err(e) => Outcome::Lost(format!("waiting for the process: {e}")),
            },
            _ = &mut deadline => false,
            _ = wait_abort(abort) => true,
        },
    };
    let kill_confirmed = kill_local(&mut child, group, log).await;
    if stopped {
        Outcome::Aborted { kill_confirmed }
    } else {
        Outcome::TimedOut { kill_confirmed }
    }
}

/// Kills a local step's process group. The group's leader is this server's child: it is
/// reaped meanwhile, or it would stay a zombie (which the kill program does not count).
async fn kill_local(child: &mut tokio::process::Child, group: Option<StepGroup>, log: &mut PairLog) -> Option<bool> {
    let group = group?;
    let kill = kill_group_local(&group);
    let reap = tokio::time::timeout(Duration::from_secs(20), child.wait());
    let (report, _) = tokio::join!(tokio::time::timeout(KILL_TIMEOUT, kill), reap);
    let report = match report {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => KillReport::Unknown(format!("the kill could not run: {e}")),
        Err(_) => KillReport::Unknown(format!("the kill did not finish within {} s", KILL_TIMEOUT.as_secs())),
    };
    log.system(&report.describe(group.pgid)).await;
    Some(report.confirmed())
}

/// The group of a local step whose leader is `pid`, read from this machine's `/proc`.
fn local_group(pid: u32) -> StepGroup {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|b| b.trim().to_string());
    let start = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.to_string()))
        .and_then(|rest| rest.split_whitespace().nth(19).and_then(|t| t.parse().ok()));
    StepGroup { pgid: i64::from(pid), boot, start }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(nonce: &str, pgid: i64) -> String {
        format!("{PGID_MARKER}{nonce} {pgid} b00t 42\n")
    }

    #[test]
    fn the_report_is_found_after_a_login_scripts_noise_which_stays_the_steps_stderr() {
        let mut s = Stderr::new("n1");
        let mut out = s.take(b"motd line\nloading");
        assert!(out.is_empty() && s.pgid.is_none(), "held until the report comes");
        out.extend(s.take(report("n1", 4242).as_bytes()));
        out.extend(s.take(b"the step's own\n"));
        assert_eq!(s.pgid.as_ref().map(|g| g.pgid), Some(4242));
        assert_eq!(String::from_utf8_lossy(&out), "motd line\nloadingthe step's own\n");
    }

    #[test]
    fn a_report_without_the_programs_nonce_is_the_steps_own_text() {
        let mut s = Stderr::new("n1");
        let forged = report("n0", 1);
        assert!(s.take(forged.as_bytes()).is_empty());
        let mut out = s.take(report("n1", 77).as_bytes());
        assert_eq!(s.pgid.as_ref().map(|g| g.pgid), Some(77));
        out.extend(s.flush());
        assert_eq!(String::from_utf8_lossy(&out), forged, "the forged line reaches the log as text");
    }

    #[test]
    fn without_a_report_stderr_is_given_back_after_the_limit_or_at_the_end() {
        let mut s = Stderr::new("n1");
        let line = vec![b'x'; 1000];
        let mut given = Vec::new();
        for _ in 0..70 {
            let mut chunk = line.clone();
            chunk.push(b'\n');
            given.extend(s.take(&chunk));
        }
        assert!(s.pgid.is_none());
        assert_eq!(given.len(), 70 * 1001, "all of it, once past the limit");
        let mut t = Stderr::new("n1");
        assert!(t.take(b"partial").is_empty());
        assert_eq!(t.flush(), b"partial", "held bytes are logged when the step ends");
    }
}
