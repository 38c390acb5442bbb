//! Which (step, host) pairs an attempt runs: pure functions over the snapshot, the hosts
//! and the previous attempt's results.

use std::collections::BTreeMap;

use api_types::{PairStatus, RedoMode};

use crate::catalogue::templates::Snapshot;

/// The pseudo-host of `local` steps: the Taskgate server itself.
pub const LOCAL: &str = "local";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPair {
    pub step: usize,
    pub group: String,
    pub host: String,
}

/// Every pair of the task: each step on each host of its group.
pub fn all_pairs(snapshot: &Snapshot, hosts: &BTreeMap<String, Vec<String>>) -> Vec<PlannedPair> {
    let mut pairs = Vec::new();
    for (i, step) in snapshot.steps.iter().enumerate() {
        let targets: Vec<String> = if step.group == LOCAL {
            vec![LOCAL.to_string()]
        } else {
            hosts.get(&step.group).cloned().unwrap_or_default()
        };
        pairs.extend(targets.into_iter().map(|host| PlannedPair { step: i, group: step.group.clone(), host }));
    }
    pairs
}

/// The pairs a redo runs, given each pair's latest status.
pub fn redo_pairs(
    all: Vec<PlannedPair>,
    latest: &BTreeMap<(usize, String), PairStatus>,
    mode: RedoMode,
    hosts: &[String],
    from_step: usize,
) -> Vec<PlannedPair> {
    all.into_iter()
        .filter(|p| match mode {
            RedoMode::All => true,
            RedoMode::Failed => {
                let status = latest.get(&(p.step, p.host.clone())).copied().unwrap_or(PairStatus::Pending);
                !status.is_ok()
            }
            RedoMode::Hosts => hosts.contains(&p.host),
            RedoMode::FromStep => p.step >= from_step,
        })
        .collect()
}

/// Writes the pairs of a new attempt (all `pending`) and announces it on the stream.
pub async fn record_attempt(
    conn: &mut sqlx::AnyConnection,
    task_id: i64,
    attempt: i64,
    snapshot: &Snapshot,
    pairs: &[PlannedPair],
) -> crate::store::StoreResult<()> {
    use crate::store::runs::{insert_pairs, insert_task_event, NewPair};
    let new: Vec<NewPair> = pairs
        .iter()
        .map(|p| NewPair {
            step_index: p.step as i64,
            step_name: &snapshot.steps[p.step].name,
            group: &p.group,
            host: &p.host,
        })
        .collect();
    insert_pairs(conn, task_id, attempt, &new).await?;
    insert_task_event(conn, task_id, attempt, api_types::TaskStatus::Running).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::aliases::implicit;
    use crate::catalogue::templates::SnapshotStep;
    use api_types::{OnFailure, Strategy, Trigger};

    fn snapshot(groups: &[&str]) -> Snapshot {
        Snapshot {
            template_id: 1,
            name: "t".into(),
            strategy: Strategy::Free,
            canary_size: 1,
            raw_params: false,
            approver_group: None,
            approval_timeout_secs: None,
            require_approval: false,
            groups: vec![],
            steps: groups
                .iter()
                .map(|g| SnapshotStep {
                    name: format!("step on {g}"),
                    group: g.to_string(),
                    command_id: None,
                    interpreter: "bash".into(),
                    body: "true".into(),
                    timeout_secs: 5,
                    retries: 0,
                    on_failure: OnFailure::Stop,
                    trigger: Trigger::Auto,
                })
                .collect(),
            params: vec![implicit("X")],
        }
    }

    fn hosts() -> BTreeMap<String, Vec<String>> {
        let mut h = BTreeMap::new();
        h.insert("1".to_string(), vec!["a".to_string(), "b".to_string()]);
        h.insert("2".to_string(), vec!["c".to_string()]);
        h
    }

    #[test]
    fn every_step_runs_on_every_host_of_its_group_and_local_once() {
        let pairs = all_pairs(&snapshot(&["1", "local", "2"]), &hosts());
        let names: Vec<(usize, &str)> = pairs.iter().map(|p| (p.step, p.host.as_str())).collect();
        assert_eq!(names, vec![(0, "a"), (0, "b"), (1, "local"), (2, "c")]);
    }

    #[test]
    fn redo_failed_takes_failures_and_pairs_never_started() {
        let all = all_pairs(&snapshot(&["1", "1"]), &hosts());
        let mut latest = BTreeMap::new();
        latest.insert((0, "a".to_string()), PairStatus::Success);
        latest.insert((1, "a".to_string()), PairStatus::Success);
        latest.insert((0, "b".to_string()), PairStatus::Failed);
        latest.insert((1, "b".to_string()), PairStatus::Pending);
        let redo = redo_pairs(all.clone(), &latest, RedoMode::Failed, &[], 0);
        assert_eq!(redo.iter().map(|p| (p.step, p.host.as_str())).collect::<Vec<_>>(), vec![(0, "b"), (1, "b")]);
        let from = redo_pairs(all.clone(), &latest, RedoMode::FromStep, &[], 1);
        assert_eq!(from.len(), 2);
        let only_a = redo_pairs(all, &latest, RedoMode::Hosts, &["a".to_string()], 0);
        assert!(only_a.iter().all(|p| p.host == "a") && only_a.len() == 2);
    }
}
