//! The executor on hosts whose `/bin/sh` and login shell are dash (Debian, Ubuntu),
//! bash (RHEL) or busybox ash (Alpine): a timeout and an abort end every process the step
//! started, and a kill is reported confirmed only when `ps` would agree.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::sshd::{pair, processes_matching, HostShell, TestSshd};

fn marker() -> u32 {
    600_000 + (uuid::Uuid::new_v4().as_u128() % 300_000) as u32
}

async fn wait_for_processes(needle: &str, count: usize) {
    for _ in 0..150 {
        if processes_matching(needle).len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {count} processes with {needle:?}, found {:?}", processes_matching(needle));
}

/// A command run by the host's own `sh` (not bash), so that the step's shell is the one
/// under test too.
async fn sh_command(app: &TestApp, name: &str, body: &str, timeout: i64) -> i64 {
    let c = app
        .post(
            "/api/v1/commands",
            &app.admin_token,
            &json!({"name": name, "body": body, "interpreter": "sh", "timeout_secs": timeout}),
        )
        .await
        .expect(201);
    c["id"].as_i64().unwrap()
}

async fn timeouts_and_aborts_kill_everything_under(shell: HostShell) {
    let app = spawn_app(Backend::Sqlite).await;
    let sshd = TestSshd::start_as(shell).await;
    let hosts = app.register_hosts(&sshd).await;

    // The host is what it claims: its sh is the shell under test.
    // (A binary bound over another keeps the other's path: compare contents.)
    let probe = sh_command(
        &app,
        "probe",
        "for b in busybox bash dash; do cmp -s /proc/$$/exe /usr/bin/$b && break; done; \
         echo \"sh=$b login=$(getent passwd $(id -un) | cut -d: -f7)\"",
        30,
    )
    .await;
    let tpl = app.template("probe", json!({}), json!([{"name": "probe", "group": "1", "command_id": probe}])).await;
    let task = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    assert_eq!(app.wait_status(task, &["success", "failed"]).await["status"], "success");
    let out =
        app.all_logs(task).await.iter().filter_map(|l| l["text"].as_str().map(str::to_string)).collect::<Vec<_>>();
    let line = out.iter().find(|l| l.starts_with("sh=")).expect("probe output").clone();
    let expected_sh = match shell {
        HostShell::Dash => "dash",
        HostShell::Bash => "bash",
        HostShell::Busybox => "busybox",
    };
    assert!(line.contains(expected_sh) && line.contains(shell.account().trim_start_matches("taskgate-sh-")), "{line}");

    // A timeout with retries: each try is killed before the next starts, and none is
    // left once the pair says timeout. The step ignores TERM, so the kill must escalate.
    let n = marker();
    let needle = format!("sleep {n}");
    let stubborn =
        sh_command(&app, "stubborn", &format!("trap '' TERM; sleep {n} & sleep {n} & wait; echo never"), 2).await;
    let tpl = app
        .template(
            "stubborn",
            json!({}),
            json!([{"name": "sleeps", "group": "1", "command_id": stubborn, "timeout_secs": 2, "retries": 1}]),
        )
        .await;
    let task = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    wait_for_processes(&needle, 2).await;
    let run = app.wait_status(task, &["failed"]).await;
    let p = pair(&run, 0, "h1");
    assert_eq!(p["status"], "timeout", "{p}");
    assert_eq!(p["tries"], 2, "{p}");
    assert_eq!(p["kill_confirmed"], true, "{p}");
    assert!(processes_matching(&needle).is_empty(), "timed-out sleeps survived: {:?}", processes_matching(&needle));

    // An abort.
    let n = marker();
    let needle = format!("sleep {n}");
    let long = sh_command(&app, "long", &format!("sleep {n} & sleep {n}; echo never"), 600).await;
    let tpl = app.template("long", json!({}), json!([{"name": "long", "group": "1", "command_id": long}])).await;
    let task = app.run_task(tpl, json!({}), json!({"1": hosts})).await;
    wait_for_processes(&needle, 2).await;
    app.post(&format!("/api/v1/tasks/{task}/abort"), &app.admin_token, &json!({})).await.expect(200);
    let run = app.wait_status(task, &["aborted"]).await;
    let p = pair(&run, 0, "h1");
    assert_eq!(p["status"], "aborted", "{p}");
    assert_eq!(p["kill_confirmed"], true, "{p}");
    assert!(processes_matching(&needle).is_empty(), "aborted sleeps survived: {:?}", processes_matching(&needle));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_aborts_kill_everything_on_a_dash_host() {
    timeouts_and_aborts_kill_everything_under(HostShell::Dash).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_aborts_kill_everything_on_a_bash_host() {
    timeouts_and_aborts_kill_everything_under(HostShell::Bash).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_aborts_kill_everything_on_a_busybox_host() {
    timeouts_and_aborts_kill_everything_under(HostShell::Busybox).await
}
