//! Holes found by attacking the hardened server (issue 9) as each role would, each sent
//! the way an attacker would send it, through the real server.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};
use crate::sshd::{pair, processes_matching};

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// On Debian `/bin/sh` is dash, whose `kill` refuses `--`: the kill of a timed-out local
/// step failed, its `kill -0` check failed too and said the group was gone, so the step
/// went on running while its pair said `kill_confirmed: true`.
async fn a_timed_out_local_step_is_killed_and_only_then_said_to_be(backend: Backend) {
    let app = spawn_app(backend).await;
    let marker = format!("{}.{}", 3000 + rand_digits(), rand_digits());
    let tpl = app
        .template(
            "sleeper",
            json!({}),
            json!([{"name": "sleep", "group": "local", "timeout_secs": 1,
                    "script": format!("sleep {marker} & sleep {marker}; echo never")}]),
        )
        .await;
    let id = app.run_task(tpl, json!({}), json!({})).await;
    let run = app.wait_status(id, &["failed", "success"]).await;
    let p = pair(&run, 0, "local");
    assert_eq!(p["status"], "timeout", "{run}");
    let left = processes_matching(&format!("sleep {marker}"));
    for line in &left {
        if let Some(pid) = line.split_whitespace().next() {
            let _ = std::process::Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    assert!(left.is_empty(), "the step outlived its timeout: {left:?}; pair {p}");
    assert_eq!(p["kill_confirmed"], true, "{p}");
}

fn rand_digits() -> u32 {
    u32::from_str_radix(&unique()[..4], 16).unwrap() % 1000
}

both_backends!(a_timed_out_local_step_is_killed_and_only_then_said_to_be);
