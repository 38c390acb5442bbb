//! Run ownership under faults, with real instances: a frozen instance, one cut off from
//! PostgreSQL, one killed outright, and a connection to a host that drops mid-step. No
//! step runs twice, a stale owner's writes are refused, and what a step started on its
//! host is killed, checked with `ps`.

use std::path::Path;
use std::time::Duration;

use std::os::unix::process::CommandExt;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::instances::{Instance, Proxy};
use crate::sshd::{pair, processes_matching, TestSshd};

/// Short leases, so that faults show within seconds: an owner stops 3 s after its last
/// renewal, others take over 2 s later.
const LEASE_SECS: u64 = 3;

fn marker() -> u32 {
    700_000 + (uuid::Uuid::new_v4().as_u128() % 200_000) as u32
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

async fn run_view(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/tasks/{id}/run"), &app.admin_token).await.expect(200)
}

/// Sends `body` to `path` on another instance, as the admin.
async fn post_to(app: &TestApp, base: &str, path: &str, body: &Value) -> Value {
    let r = app.client.post(format!("{base}{path}")).bearer_auth(&app.admin_token).json(body).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path} on {base}: {status} {v}");
    v
}

/// Kills what a test started on its hosts (`pkill -f`) however the test ends.
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill").args(["-f", &self.0]).status();
    }
}

async fn pgid_recorded(app: &TestApp, id: i64, step: i64) -> bool {
    let pool = app.state().db.pool.clone();
    let pgid: Option<Option<i64>> =
        sqlx::query_scalar("SELECT pgid FROM task_pairs WHERE task_id = $1 AND step_index = $2 AND status = 'running'")
            .bind(id)
            .bind(step)
            .fetch_optional(&pool)
            .await
            .unwrap();
    pgid.flatten().is_some()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// A three-step task on the sshd host whose attempt 2 runs on `owner`: attempt 1 fails
/// at once (the `go` file is missing), then `go` is made and the task redone there. Step
/// one records itself, then, while the `slow` file exists, waits: for days (`long`, until
/// something kills it) or for 3 s. Steps two and three record themselves. Returns once
/// step one runs and its process group is recorded.
async fn task_owned_by(app: &TestApp, owner: &Instance, dir: &Path, long: bool) -> Owned {
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let (go, slow, marks) = (dir.join("go"), dir.join("slow"), dir.join("marks"));
    let n = marker();
    let wait = if long { format!("sleep {n}") } else { "sleep 3".to_string() };
    let tpl = app
        .template(
            "fenced",
            json!({}),
            json!([
                {"name": "one", "group": "1", "script": format!(
                    "test -e {go} || exit 3; echo one >> {marks}; if test -e {slow}; then {wait}; fi",
                    go = go.display(), marks = marks.display(), slow = slow.display())},
                {"name": "two", "group": "1", "script": format!("echo two >> {}", marks.display())},
                {"name": "three", "group": "1", "script": format!("echo three >> {}", marks.display())}
            ]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    assert_eq!(app.wait_status(id, &["failed", "success"]).await["status"], "failed");
    std::fs::write(&go, "").unwrap();
    std::fs::write(&slow, "").unwrap();
    let needle = format!("sleep {n}");
    let guard = KillOnDrop(needle.clone());
    let redo = post_to(app, &owner.url, &format!("/api/v1/tasks/{id}/redo"), &json!({"mode": "all"})).await;
    assert_eq!(redo["attempt"], 2);
    wait_until("step one runs on the host", async || lines(&marks).len() == 1).await;
    wait_until("its process group is recorded", async || pgid_recorded(app, id, 0).await).await;
    Owned { id, marks, slow, sleep: needle, _guard: guard, _sshd: sshd }
}

struct Owned {
    id: i64,
    /// What the steps recorded, one line each time one ran.
    marks: std::path::PathBuf,
    /// While it exists, step one waits.
    slow: std::path::PathBuf,
    /// The command line of step one's long wait, for `ps`.
    sleep: String,
    _guard: KillOnDrop,
    _sshd: TestSshd,
}

async fn a_frozen_instance_runs_no_step_twice_and_its_late_writes_are_refused() {
    let app = spawn_app_with(Backend::Postgres, |s| s.run_lease_secs = LEASE_SECS).await;
    let a = Instance::start(&app, "node-a", None, LEASE_SECS).await;
    let dir = tempfile::tempdir().unwrap();
    // Step one ends on the host (after 3 s) while its instance is frozen: when that
    // instance wakes up, the next thing it would do is start step two.
    let Owned { id, marks, slow, _sshd, _guard, .. } = task_owned_by(&app, &a, dir.path(), false).await;

    a.freeze();
    // The others take the run over once its lease is a grace period old.
    let run = app.wait_status(id, &["interrupted"]).await;
    assert_eq!(pair(&run, 1, "h1")["status"], "pending", "{run}");

    // Redone elsewhere while the old owner is still frozen; then it wakes up.
    std::fs::remove_file(&slow).unwrap();
    let redo =
        app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "failed"})).await.expect(200);
    assert_eq!(redo["attempt"], 3);
    a.thaw();
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "success", "{run}");
    // The old owner finds its run gone: its writes are refused and it starts nothing.
    a.wait_log("no longer owns").await;
    // Let it go on as long as it likes: one more lease.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 2)).await;
    assert_eq!(
        lines(&marks),
        ["one", "one", "two", "three"],
        "steps two and three ran once, step one once per attempt"
    );
    let run = run_view(&app, id).await;
    assert_eq!(run["status"], "success");
    assert_eq!(run["attempt"], 3);
    for step in 0..3 {
        assert_eq!(pair(&run, step, "h1")["status"], "success", "{run}");
        assert_eq!(pair(&run, step, "h1")["attempt"], 3, "{run}");
    }
    // Nothing of attempt 2 was written after the takeover: its step one stays aborted.
    let pool = app.state().db.pool.clone();
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT status FROM task_pairs WHERE task_id = $1 AND attempt = 2 ORDER BY step_index")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stale, ["aborted", "pending", "pending"]);
}

async fn an_instance_cut_off_from_the_database_stops_and_kills_its_steps() {
    let app = spawn_app_with(Backend::Postgres, |s| s.run_lease_secs = LEASE_SECS).await;
    let url = app.settings().database_url.clone();
    let pg = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", pg.port), 1);
    assert_ne!(via_proxy, url, "the test database is on 127.0.0.1:5432");
    let a = Instance::start(&app, "node-a", Some(&via_proxy), LEASE_SECS).await;
    let dir = tempfile::tempdir().unwrap();
    let Owned { id, marks, slow, sleep, _sshd, _guard } = task_owned_by(&app, &a, dir.path(), true).await;

    pg.go_dark(true);
    // With no database, the owner stops its run when its lease runs out by its own clock,
    // and kills what the step started (the host is still reachable).
    a.wait_log("lease ran out").await;
    wait_until("the cut-off owner kills its own step", async || processes_matching(&sleep).is_empty()).await;
    let run = app.wait_status(id, &["interrupted"]).await;
    assert_eq!(pair(&run, 0, "h1")["status"], "aborted");
    assert_eq!(pair(&run, 1, "h1")["status"], "pending", "nothing more was started");

    std::fs::remove_file(&slow).unwrap();
    app.post(&format!("/api/v1/tasks/{id}/redo"), &app.admin_token, &json!({"mode": "failed"})).await.expect(200);
    let run = app.wait_status(id, &["success", "failed"]).await;
    assert_eq!(run["status"], "success", "{run}");
    // The network returns: whatever the old owner still had to write is refused, or was
    // given up while the database was out of reach (each wait is bounded by the lease)
    // and its executor, ending the run it lost, finds it ended by the other instance.
    pg.go_dark(false);
    a.wait_log_any(&["no longer owns", "nothing to end here"]).await;
    assert_eq!(lines(&marks), ["one", "one", "two", "three"]);
    let run = run_view(&app, id).await;
    assert_eq!(run["status"], "success");
    assert_eq!(run["attempt"], 3);
}

async fn an_abort_through_another_instance_kills_the_steps_of_one_that_died() {
    let app = spawn_app_with(Backend::Postgres, |s| s.run_lease_secs = LEASE_SECS).await;
    let mut a = Instance::start(&app, "node-a", None, LEASE_SECS).await;
    let dir = tempfile::tempdir().unwrap();
    let Owned { id, marks, sleep, _sshd, _guard, .. } = task_owned_by(&app, &a, dir.path(), true).await;

    a.kill();
    // Its lease is still current: the abort is taken, and acted on when the lease ends.
    app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect(200);
    let run = app.wait_status(id, &["aborted", "interrupted"]).await;
    assert_eq!(run["status"], "aborted", "an abort asked is an abort, not an interruption: {run}");
    wait_until("the dead owner's step is killed on the host", async || processes_matching(&sleep).is_empty()).await;
    wait_until("the kill is recorded with its evidence", async || {
        pair(&run_view(&app, id).await, 0, "h1")["kill_confirmed"] == true
    })
    .await;
    assert_eq!(lines(&marks), ["one"]);
}

/// A step that sleeps for days on a host reached through a [`Proxy`], running, with its
/// process group recorded.
struct BehindProxy {
    id: i64,
    proxy: Proxy,
    /// The step's command line, for `ps`.
    sleep: String,
    _guard: KillOnDrop,
    _sshd: TestSshd,
}

async fn long_step_behind_proxy(app: &TestApp) -> BehindProxy {
    let sshd = TestSshd::start().await;
    let proxy = Proxy::start(&format!("127.0.0.1:{}", sshd.port)).await;
    let cred = app
        .post(
            "/api/v1/credentials",
            &app.admin_token,
            &json!({"name": "k", "kind": "private_key", "secret": sshd.client_key}),
        )
        .await
        .expect(201);
    app.post(
        "/api/v1/hosts",
        &app.admin_token,
        &json!({"name": "h1", "address": "127.0.0.1", "port": proxy.port, "user": sshd.user,
                "credential_id": cred["id"], "host_key_fingerprint": sshd.fingerprint}),
    )
    .await
    .expect(201);
    let n = marker();
    let tpl =
        app.template("long", json!({}), json!([{"name": "one", "group": "1", "script": format!("sleep {n}")}])).await;
    let id = app.run_task(tpl, json!({}), json!({"1": ["h1"]})).await;
    let sleep = format!("sleep {n}");
    let guard = KillOnDrop(sleep.clone());
    wait_until("the step runs", async || processes_matching(&sleep).len() == 1).await;
    wait_until("its process group is recorded", async || pgid_recorded(app, id, 0).await).await;
    BehindProxy { id, proxy, sleep, _guard: guard, _sshd: sshd }
}

/// The connection to the host drops (`frozen`: stops answering) mid-step: the host is
/// unreachable, and what the step started there is killed through a new connection.
async fn a_lost_connection_kills_what_the_step_started(frozen: bool) {
    let app = spawn_app_with(Backend::Sqlite, |s| s.ssh_keepalive_secs = 1).await;
    let BehindProxy { id, proxy, sleep, _guard, _sshd } = long_step_behind_proxy(&app).await;

    if frozen {
        proxy.freeze();
    } else {
        proxy.cut();
    }
    let run = app.wait_status(id, &["failed"]).await;
    let one = pair(&run, 0, "h1");
    assert_eq!(one["status"], "unreachable", "{run}");
    assert_eq!(one["kill_confirmed"], true, "{run}");
    assert!(processes_matching(&sleep).is_empty(), "the step's process outlived its connection");
}

/// An abort while the host's connection hangs (before it counts as lost): the kill
/// through that connection proves nothing, so it goes again through a new one.
async fn an_abort_on_a_hung_connection_kills_through_a_new_one() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.ssh_keepalive_secs = 30).await;
    let BehindProxy { id, proxy, sleep, _guard, _sshd } = long_step_behind_proxy(&app).await;

    proxy.freeze();
    app.post(&format!("/api/v1/tasks/{id}/abort"), &app.admin_token, &json!({})).await.expect(200);
    let run = app.wait_status(id, &["aborted"]).await;
    assert_eq!(pair(&run, 0, "h1")["kill_confirmed"], true, "{run}");
    assert!(processes_matching(&sleep).is_empty(), "the aborted step still runs on the host");
}

/// What the wrapper reports for a group led by `pid` (read from this machine's /proc).
fn identity(pid: u32) -> (String, i64) {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_string();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    (boot, stat.rsplit_once(") ").unwrap().1.split_whitespace().nth(19).unwrap().parse().unwrap())
}

/// Leaves task `id`'s only pair as a dead taker would: aborted, its kill still to do, its
/// group `pgid` with the identity given.
async fn leave_unkilled(app: &TestApp, id: i64, pgid: u32, boot: &str, start: i64) {
    let pool = app.state().db.pool.clone();
    sqlx::query("UPDATE tasks SET status = 'interrupted' WHERE id = $1").bind(id).execute(&pool).await.unwrap();
    sqlx::query(
        "UPDATE task_pairs SET status = 'aborted', pgid = $1, pgid_boot = $2, pgid_start = $3, kill_confirmed = NULL,
            reap = 1, finished_at = 1 WHERE task_id = $4",
    )
    .bind(i64::from(pgid))
    .bind(boot)
    .bind(start)
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
}

/// Runs taken over by an instance that died before it killed their steps: another
/// instance's sweep kills the step whose group is still the one recorded, and leaves
/// alone a group id that now leads another program.
async fn steps_left_unkilled_by_a_taker_that_died_are_killed_by_the_next_sweep() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.run_lease_secs = LEASE_SECS).await;
    let sshd = TestSshd::start().await;
    let hosts = app.register_hosts(&sshd).await;
    let tpl = app.template("quick", json!({}), json!([{"name": "one", "group": "1", "script": "true"}])).await;
    let (n, m) = (marker(), marker());
    let (mine, stranger) = (format!("sleep {n}"), format!("sleep {m}"));
    let _guards = (KillOnDrop(mine.clone()), KillOnDrop(stranger.clone()));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
        assert_eq!(app.wait_status(id, &["success"]).await["status"], "success");
        ids.push(id);
    }
    // The step's own group, still there (the processes run on the loopback host).
    let mut left = std::process::Command::new("sleep").arg(n.to_string()).process_group(0).spawn().unwrap();
    let (boot, start) = identity(left.id());
    leave_unkilled(&app, ids[0], left.id(), &boot, start).await;
    // A group whose id now leads another program: recorded with another start time.
    let mut other = std::process::Command::new("sleep").arg(m.to_string()).process_group(0).spawn().unwrap();
    let (boot, start) = identity(other.id());
    leave_unkilled(&app, ids[1], other.id(), &boot, start - 1).await;

    for id in &ids {
        wait_until("the sweep records what it saw", async || {
            !pair(&run_view(&app, *id).await, 0, "h1")["kill_confirmed"].is_null()
        })
        .await;
    }
    let _ = left.wait();
    assert!(processes_matching(&mine).is_empty(), "the step's own group was killed");
    let run = run_view(&app, ids[0]).await;
    assert_eq!(pair(&run, 0, "h1")["kill_confirmed"], true, "{run}");
    assert!(pair(&run, 0, "h1")["message"].as_str().unwrap().contains("no process of it is left"), "{run}");
    let run = run_view(&app, ids[1]).await;
    assert_eq!(pair(&run, 0, "h1")["kill_confirmed"], false, "{run}");
    assert!(pair(&run, 0, "h1")["message"].as_str().unwrap().contains("another program"), "{run}");
    assert_eq!(processes_matching(&stranger).len(), 1, "a process that only shares the id was left alone");
    let _ = other.kill();
    let _ = other.wait();
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_instance_runs_no_step_twice_and_its_late_writes_are_refused() {
        super::a_frozen_instance_runs_no_step_twice_and_its_late_writes_are_refused().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_cut_off_from_the_database_stops_and_kills_its_steps() {
        super::an_instance_cut_off_from_the_database_stops_and_kills_its_steps().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abort_through_another_instance_kills_the_steps_of_one_that_died() {
        super::an_abort_through_another_instance_kills_the_steps_of_one_that_died().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_cut_by_kill_9_loses_nothing_runs_nothing_twice_and_leaves_nothing_running() {
        use crate::helpers::Backend;
        super::a_burst_cut_by_kill_9_loses_nothing_runs_nothing_twice_and_leaves_nothing_running(Backend::Postgres)
            .await
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steps_left_unkilled_by_a_taker_that_died_are_killed_by_the_next_sweep() {
        super::steps_left_unkilled_by_a_taker_that_died_are_killed_by_the_next_sweep().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_cut_by_kill_9_loses_nothing_runs_nothing_twice_and_leaves_nothing_running() {
        use crate::helpers::Backend;
        super::a_burst_cut_by_kill_9_loses_nothing_runs_nothing_twice_and_leaves_nothing_running(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_connection_kills_what_the_step_started() {
        super::a_lost_connection_kills_what_the_step_started(false).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abort_on_a_hung_connection_kills_through_a_new_one() {
        super::an_abort_on_a_hung_connection_kills_through_a_new_one().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_connection_kills_what_the_step_started() {
        super::a_lost_connection_kills_what_the_step_started(true).await
    }
}

async fn login_at(client: &reqwest::Client, base: &str) -> String {
    let r: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().expect("a token").to_string()
}

/// Tasks submitted in a burst through an instance that is killed (`SIGKILL`) halfway:
/// every task it acknowledged is there after it restarts, none ran twice, and none is
/// left `ready` or `running`. On PostgreSQL a second instance runs beside it.
async fn a_burst_cut_by_kill_9_loses_nothing_runs_nothing_twice_and_leaves_nothing_running(backend: Backend) {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let marks = work.path().join("marks");
    let (_app, database_url, key) = match backend {
        Backend::Sqlite => {
            (None, format!("sqlite://{}/taskgate.db", data.display()), format!("test-secret-{}", uuid::Uuid::new_v4()))
        }
        Backend::Postgres => {
            let app = spawn_app_with(Backend::Postgres, |s| s.run_lease_secs = LEASE_SECS).await;
            let url = app.settings().database_url.clone();
            let key = secrecy::ExposeSecret::expose_secret(app.settings().secret_key.as_ref().unwrap()).to_string();
            (Some(app), url, key)
        }
    };
    let config = crate::instances::Config {
        data_dir: &data,
        database_url: &database_url,
        secret_key: &key,
        node: "node-a",
        lease_secs: LEASE_SECS,
    };
    let mut a = Instance::start_with(&config, None).await;
    let client = reqwest::Client::new();
    let token = login_at(&client, &a.url).await;
    let step = format!("echo \"$TASK_ID\" >> {}; sleep 0.2", marks.display());
    let tpl: Value = client
        .post(format!("{}/api/v1/templates", a.url))
        .bearer_auth(&token)
        .json(&json!({"name": "burst", "steps": [{"name": "mark", "group": "local", "script": step}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tpl = tpl["id"].as_i64().unwrap();

    // Eight clients submit as fast as they can; the instance dies after 150 answers.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, base, token, acked) = (client.clone(), a.url.clone(), token.clone(), acked.clone());
        clients.spawn(async move {
            loop {
                let body = json!({"template_id": tpl, "schedule": "ready"});
                let Ok(r) = client.post(format!("{base}/api/v1/tasks")).bearer_auth(&token).json(&body).send().await
                else {
                    return;
                };
                if r.status() != 201 {
                    return;
                }
                let Ok(v) = r.json::<Value>().await else { return };
                acked.lock().unwrap().push(v["id"].as_i64().unwrap());
            }
        });
    }
    wait_until("150 tasks are acknowledged", async || acked.lock().unwrap().len() >= 150).await;
    a.kill();
    while clients.join_next().await.is_some() {}
    let acked: Vec<i64> = acked.lock().unwrap().clone();

    let a = Instance::start_with(&config, None).await;
    let token = login_at(&client, &a.url).await;
    let mut statuses = std::collections::BTreeMap::new();
    let mut ended = std::collections::BTreeMap::new();
    for id in &acked {
        let mut status = String::new();
        for _ in 0..600 {
            let r = client.get(format!("{}/api/v1/tasks/{id}", a.url)).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), 200, "acknowledged task {id} is lost");
            let t: Value = r.json().await.unwrap();
            status = t["status"].as_str().unwrap().to_string();
            if status != "ready" && status != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(status == "success" || status == "interrupted", "task {id} ended {status}");
        *statuses.entry(status.clone()).or_insert(0) += 1;
        ended.insert(*id, status);
    }
    let mut runs = std::collections::BTreeMap::<i64, usize>::new();
    for line in lines(&marks) {
        *runs.entry(line.trim().parse().unwrap()).or_insert(0) += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "tasks that ran twice: {twice:?}");
    for (id, status) in &ended {
        if status == "success" {
            assert_eq!(runs.get(id), Some(&1), "successful task {id} ran its step once");
        }
    }
    eprintln!("{} acknowledged, 0 lost, 0 twice, 0 stuck; ended: {statuses:?}", acked.len());
}
