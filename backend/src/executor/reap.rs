//! Killing what a step started when the connection that started it is gone: the
//! connection dropped or froze mid-step, or the run's instance stopped (frozen, cut off,
//! killed) and another instance took the run over. The kill goes through a new
//! connection, aimed at the process group the step reported (`task_pairs.pgid`, with the
//! boot and start time that tell it from a later process), and is confirmed only from
//! evidence, as every kill is (see `kill`). Kills of taken-over runs are claimed first
//! (`task_pairs.reap`), so that no two instances kill the same group.

use std::time::Duration;

use super::kill::{KillReport, StepGroup};
use super::remote::Remote;
use super::{plan, record_first_use, target};
use crate::state::AppState;
use crate::store::runs::{self, PairRow};

/// Tries to reach a host again after a dropped connection: this many times, this far apart.
const TRIES: u32 = 3;
const PAUSE: Duration = Duration::from_secs(2);

/// Kills a step's process group on `host` through a new connection (a few tries).
pub async fn kill_on_host(state: &AppState, host: &str, group: &StepGroup) -> KillReport {
    if host == plan::LOCAL {
        return Remote::Local.kill(group).await;
    }
    let mut why = String::new();
    for n in 0..TRIES {
        if n > 0 {
            tokio::time::sleep(PAUSE * n).await;
        }
        let catalogue = match target::Catalogue::load(&state.db).await {
            Ok(c) => c,
            Err(e) => {
                why = format!("the host list could not be read: {e}");
                continue;
            }
        };
        let target = match catalogue.resolve(&state.keys, host) {
            Ok(t) => t,
            Err(e) => return KillReport::Unknown(format!("cannot reach {host} to kill its processes: {e}")),
        };
        let timeout = Duration::from_secs(state.settings.ssh_connect_timeout_secs);
        let record = (target.host_key == super::remote::HostKeyPolicy::TrustOnFirstUse)
            .then(|| record_first_use(&state.db, &target));
        let keepalive = Duration::from_secs(state.settings.ssh_keepalive_secs);
        match Remote::connect(&target, timeout, record, keepalive).await {
            Ok((remote, _)) => {
                let report = remote.kill(group).await;
                remote.close().await;
                return report;
            }
            Err(e) => why = e.to_string(),
        }
    }
    KillReport::Unknown(format!("could not reconnect to kill its processes after {TRIES} tries: {why}"))
}

/// Kills the processes of pairs whose run was taken over, whose kills the caller has
/// claimed (`store::runs::claim_*_reaps`), and records on each pair (and its log) what
/// was seen. `owned_here`: the run was this instance's (a restart), so steps on the
/// server itself are its own to kill; another instance's local steps ran on another
/// machine and are left, which the pair says.
pub async fn reap_pairs(state: &AppState, pairs: Vec<PairRow>, owned_here: bool) {
    let mut kills = tokio::task::JoinSet::new();
    for mut pair in pairs {
        let state = state.clone();
        kills.spawn(async move {
            let report = match pair.pgid {
                None => KillReport::Unknown("its process group was never recorded".into()),
                // A local step ran on the server of the run's instance. Another instance may
                // share this machine's boot id yet not its processes (containers), so only
                // the run's own instance kills it.
                Some(_) if pair.host == plan::LOCAL && !owned_here => KillReport::Unknown(
                    "it ran on the server of the instance that stopped; only that one can kill it".into(),
                ),
                Some(pgid) => {
                    let group = StepGroup { pgid, boot: pair.pgid_boot.clone(), start: pair.pgid_start };
                    kill_on_host(&state, &pair.host, &group).await
                }
            };
            let line = report.describe(pair.pgid.unwrap_or(0));
            tracing::info!(task = pair.task_id, attempt = pair.attempt, host = ?pair.host, report = ?line, "reaped");
            pair.message = format!("{}; {line}", pair.message);
            pair.kill_confirmed = Some(i64::from(report.confirmed()));
            if let Err(e) = runs::record_reaped_pair(&state.db, &pair, &line).await {
                tracing::error!(task = pair.task_id, error = %e, "recording a reaped pair failed");
            }
            state.events.notify(pair.task_id);
        });
    }
    while kills.join_next().await.is_some() {}
}
