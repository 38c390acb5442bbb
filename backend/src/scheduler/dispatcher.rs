//! The database says what is due. One loop sleeps until the earliest due task (woken
//! early when a task becomes ready here), claims the due tasks in batches (one
//! transaction each: the claim, every pair of every attempt, the status events and the
//! audit records, a handful of statements), and hands each to the executor. A claim is a
//! compare-and-set (and on PostgreSQL a `SKIP LOCKED` row lock), so every task starts
//! exactly once across instances.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::catalogue::templates::Snapshot;
use crate::error::ServiceResult;
use crate::executor::{self, plan};
use crate::state::AppState;
use crate::store::audit::AuditRow;
use crate::store::runs::{self, NewEvent, NewPair};
use crate::store::{self, now_ms};

/// Longest sleep: tasks made ready on other instances are found within this time.
const MAX_SLEEP: Duration = Duration::from_secs(5);

/// Most tasks claimed in one transaction.
pub const CLAIM_BATCH: i64 = 500;

/// Most characters of host lists in one claim (about 20,000 hosts): a batch stops taking tasks
/// beyond it, and a task with a longer list is claimed alone.
const CLAIM_HOSTS_CHARS: i64 = 400_000;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        // A read first: a wake-up with nothing due (a task due later) takes no write turn.
        let due_now = matches!(runs::next_due(&state.db).await, Ok(Some(due)) if due <= now_ms());
        if due_now {
            // A burst is claimed first and its runs started after (within a second): the
            // runs' own work would slow down the claims of the tasks after them.
            let mut claimed = Vec::new();
            let mut since = tokio::time::Instant::now();
            loop {
                match claim_batch(&state).await {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => claimed.extend(batch),
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming due tasks failed");
                        break;
                    }
                }
                if *shutdown.borrow() {
                    break;
                }
                if since.elapsed() >= SPAWN_AFTER {
                    start_runs(&state, std::mem::take(&mut claimed));
                    since = tokio::time::Instant::now();
                }
            }
            start_runs(&state, claimed);
        }
        let wait = match runs::next_due(&state.db).await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(50, MAX_SLEEP.as_millis() as i64) as u64),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.dispatch.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A claimed task's run as this transaction creates it.
struct Claimed {
    task_id: i64,
    attempt: i64,
    /// The sequence number of its `running` event.
    event_seq: i64,
    /// Its step names, and its pairs (none for a task whose contents cannot be read).
    steps: Vec<String>,
    pairs: Vec<plan::PlannedPair>,
}

impl Claimed {
    fn plan(c: runs::ClaimedTask) -> Claimed {
        let (task_id, attempt, event_seq) = (c.id, c.attempt, c.event_seq);
        let decoded = store::from_json::<Snapshot>("tasks.template_snapshot", &c.template_snapshot)
            .and_then(|s| Ok((s, store::from_json::<BTreeMap<String, Vec<String>>>("tasks.hosts", &c.hosts)?)));
        match decoded {
            Ok((snapshot, hosts)) => Claimed {
                task_id,
                attempt,
                event_seq,
                steps: snapshot.steps.iter().map(|s| s.name.clone()).collect(),
                pairs: plan::all_pairs(&snapshot, &hosts),
            },
            // Its run fails with the reason (the executor reads it again).
            Err(e) => {
                tracing::error!(task = task_id, error = %e, "claimed a task whose contents cannot be read");
                Claimed { task_id, attempt, event_seq, steps: vec![], pairs: vec![] }
            }
        }
    }

    fn new_pairs(&self) -> Vec<NewPair<'_>> {
        self.pairs
            .iter()
            .map(|p| NewPair {
                step_index: p.step as i64,
                step_name: &self.steps[p.step],
                group: &p.group,
                host: &p.host,
            })
            .collect()
    }
}

/// Longest time claimed runs wait for the claims of a burst to finish before they start.
const SPAWN_AFTER: Duration = Duration::from_secs(1);

fn start_runs(state: &AppState, claimed: Vec<(i64, i64)>) {
    for (task_id, attempt) in claimed {
        state.runs.spawn(task_id, attempt, executor::run_attempt(state.clone(), task_id, attempt));
    }
}

/// Claims the due tasks (up to [`CLAIM_BATCH`]) and creates the pairs of their attempts,
/// in one transaction; returns (task id, attempt) of each, earliest due first.
pub async fn claim_batch(state: &AppState) -> ServiceResult<Vec<(i64, i64)>> {
    let mut tx = state.db.begin_claim_write().await?;
    // The lease is counted, on this instance's clock, from before it is written (after
    // the wait for the write lock, which may be long under load).
    let leased = tokio::time::Instant::now();
    let lease_ms = state.runs.lease().ms();
    let now = now_ms();
    let claimed =
        runs::claim_due(&mut tx, state.db.dialect, &state.node_id, now, lease_ms, CLAIM_BATCH, CLAIM_HOSTS_CHARS)
            .await?;
    if claimed.is_empty() {
        return Ok(vec![]);
    }
    let claimed: Vec<Claimed> = claimed.into_iter().map(Claimed::plan).collect();
    let new_pairs: Vec<Vec<NewPair>> = claimed.iter().map(Claimed::new_pairs).collect();
    let attempts: Vec<(i64, i64, &[NewPair])> =
        claimed.iter().zip(&new_pairs).map(|(c, p)| (c.task_id, c.attempt, p.as_slice())).collect();
    runs::insert_attempts_pairs(&mut tx, &attempts).await?;
    let bodies: Vec<String> =
        claimed.iter().map(|c| runs::task_status_body(api_types::TaskStatus::Running, c.attempt)).collect();
    let events: Vec<NewEvent> = claimed
        .iter()
        .zip(&bodies)
        .map(|(c, body)| NewEvent {
            task_id: c.task_id,
            attempt: c.attempt,
            step_index: -1,
            host: "",
            kind: "status",
            stream: "system",
            seq: 0,
            body,
        })
        .collect();
    let numbered: Vec<(&NewEvent, i64)> = events.iter().zip(claimed.iter().map(|c| c.event_seq)).collect();
    runs::insert_numbered_events(&mut tx, &numbered, now).await?;
    let audit: Vec<AuditRow> = claimed
        .iter()
        .map(|c| AuditRow {
            id: 0,
            at: now,
            actor: "system".into(),
            action: "task.start".into(),
            object_type: "task".into(),
            object_id: c.task_id.to_string(),
            detail: json!({"attempt": c.attempt, "node": &*state.node_id}).to_string(),
            remote_addr: String::new(),
        })
        .collect();
    store::audit::insert_many(&mut tx, &audit).await?;
    // Registered before the commit, so that the orphan reaper never sees them unclaimed.
    for c in &claimed {
        state.runs.register(c.task_id, c.attempt, leased);
    }
    if let Err(e) = tx.commit().await {
        for c in &claimed {
            state.runs.unregister(c.task_id, c.attempt);
        }
        return Err(e.into());
    }
    for c in &claimed {
        state.runs.committed(c.task_id, c.attempt);
        tracing::info!(task = c.task_id, attempt = c.attempt, pairs = c.pairs.len(), "task started");
        state.events.notify(c.task_id);
    }
    Ok(claimed.iter().map(|c| (c.task_id, c.attempt)).collect())
}
