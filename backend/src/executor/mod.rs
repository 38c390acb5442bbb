//! The executor: runs one attempt of a task. Groups run in order; inside a group each
//! host walks its steps (free), or all hosts take each step together (lockstep), or a
//! canary batch goes first; every host uses one connection for all its steps.

pub mod kill;
pub mod logs;
pub mod mask;
pub mod plan;
pub mod reap;
pub mod remote;
pub mod render;
pub mod shell;
pub mod target;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use api_types::{OnFailure, PairStatus, Strategy, TaskStatus, Trigger};
use tokio::sync::{watch, Mutex, OwnedSemaphorePermit, Semaphore};

use self::kill::StepGroup;
use self::logs::{PairLog, RunLog};
use self::remote::{ConnectError, Outcome, Remote, StepSpec};
use crate::catalogue::templates::{Snapshot, SnapshotStep};
use crate::state::AppState;
use crate::store::runs::{self, Fence, PairRow};
use crate::store::StoreError;
use crate::store::{self, now_ms, tasks::TaskRow};
use crate::task::model::Task;

const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What every host worker of one run shares.
struct Run {
    state: AppState,
    /// The key of every write this run makes: refused once the run is not this instance's.
    fence: Fence,
    task: TaskRow,
    snapshot: Snapshot,
    /// The task's arguments (decrypted).
    args: BTreeMap<String, String>,
    /// The built-ins every step of the run shares (each pair adds its host and step).
    builtins: BTreeMap<String, String>,
    catalogue: target::Catalogue,
    log: RunLog,
    abort: watch::Receiver<bool>,
    release: Arc<tokio::sync::Notify>,
    per_task: Arc<Semaphore>,
}

/// Runs attempt `attempt` of task `task_id` to its end and records the task's status.
pub async fn run_attempt(state: AppState, task_id: i64, attempt: i64) {
    let fence = Fence { task_id, attempt, owner: state.node_id.clone() };
    if let Err(e) = run_attempt_inner(&state, &fence).await {
        if let Some(StoreError::Fenced { .. }) = e.downcast_ref::<StoreError>() {
            fenced(&state, &fence);
        } else {
            tracing::error!(task = task_id, attempt, error = ?e.to_string(), "run failed");
            match end_run(&state, &fence, TaskStatus::Failed).await {
                Ok(()) => {}
                // Cut off long enough to lose the run: the end is refused like any other write.
                Err(e) if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Fenced { .. })) => {
                    fenced(&state, &fence)
                }
                Err(e) => tracing::error!(task = task_id, error = %e, "could not record the failed run"),
            }
        }
    }
    state.runs.unregister(task_id, attempt);
    state.events.notify(task_id);
}

/// A write of this run was refused: the run is another's now. Counted, and the run stops.
fn fenced(state: &AppState, fence: &Fence) {
    let n = state.runs.count_fenced(fence.task_id, fence.attempt);
    tracing::warn!(
        task = fence.task_id,
        attempt = fence.attempt,
        fenced_writes = n,
        "a write of a run this instance no longer owns was refused"
    );
}

async fn run_attempt_inner(state: &AppState, fence: &Fence) -> anyhow::Result<()> {
    let (task_id, attempt) = (fence.task_id, fence.attempt);
    let Some((abort, release)) = state.runs.levers(task_id, attempt) else {
        tracing::warn!(task = task_id, attempt, "not run: the run was lost before it began");
        return Ok(());
    };
    // Nothing about an approved task may change without a new approval: check once more.
    let task = Task::load(&state.db, task_id).await?;
    if !task.approval_holds(&state.db, &state.keys).await? {
        tracing::error!(task = task_id, "not run: the task no longer matches its approval");
        let mut tx = state.db.begin_write().await?;
        let body = serde_json::json!({"message": "not run: the task no longer matches what was approved"}).to_string();
        runs::insert_run_events(
            &mut tx,
            fence,
            &[runs::NewEvent {
                task_id,
                attempt,
                step_index: -1,
                host: "",
                kind: "log",
                stream: "system",
                seq: 0,
                body: &body,
            }],
        )
        .await?;
        tx.commit().await?;
        end_run(state, fence, TaskStatus::Failed).await?;
        return Ok(());
    }
    let args = task.open_args(&state.keys)?;
    let secrets = task.secret_values(&args);
    let Task { row: task, snapshot, .. } = task;
    let builtins: BTreeMap<String, String> = [
        ("TASK_ID", task.id.to_string()),
        ("FLOW_ID", task.id.to_string()),
        ("TASK_NAME", task.name.clone()),
        ("SUBMITTER", task.submitter.clone()),
        ("EXECUTOR", task.executor.clone()),
        ("EXEC_TIME", store::rfc3339(task.exec_time)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (log, writer) = RunLog::start(state, fence.clone(), secrets, abort.clone());
    let run = Arc::new(Run {
        state: state.clone(),
        fence: fence.clone(),
        catalogue: target::Catalogue::load(&state.db).await?,
        per_task: Arc::new(Semaphore::new(task.concurrency.max(1) as usize)),
        task,
        snapshot,
        args,
        builtins,
        log,
        abort,
        release,
    });

    let pairs = runs::attempt_pairs(&state.db, task_id, attempt).await?;
    for group in run.snapshot.groups.clone() {
        let group_pairs: Vec<PairRow> = pairs.iter().filter(|p| p.grp == group).cloned().collect();
        if group_pairs.is_empty() {
            continue;
        }
        let hosts = by_host(group_pairs);
        let stop = match run.snapshot.strategy {
            Strategy::Free => run_free(&run, hosts).await,
            Strategy::Lockstep => run_lockstep(&run, hosts).await,
            Strategy::Canary => run_canary(&run, hosts).await,
        };
        if stop || *run.abort.borrow() {
            break;
        }
    }
    // Everything logged is written before the run is declared over: dropping the run
    // closes the last log sender, and the writer ends after its final batch.
    drop(run);
    let _ = writer.await;

    if state.runs.lost(task_id, attempt) && !all_pairs_over(state, fence).await {
        // The lease ran out (or the run was taken over) before every pair was done: what
        // the steps did does not say how the run ended. Taken over here at once, as
        // another instance would after the grace: `interrupted`, its unfinished pairs
        // aborted, their steps killed. Nothing happens when someone else already has it;
        // when this fails, the next renewal finds the run carried by nobody and tries
        // again. (A run whose pairs all finished ends as usual: its end is fenced.)
        tracing::warn!(task = task_id, attempt, "the run stopped without its lease: ending it as interrupted");
        crate::scheduler::recovery::take_over_own(state, task_id, attempt).await;
        return Ok(());
    }
    let status = final_status(state, task_id).await?;
    end_run(state, fence, status).await?;
    tracing::info!(task = task_id, attempt, status = status.as_str(), "run finished");
    Ok(())
}

/// Whether every pair of the attempt has finished (false when that cannot be read).
async fn all_pairs_over(state: &AppState, fence: &Fence) -> bool {
    match runs::attempt_pairs(&state.db, fence.task_id, fence.attempt).await {
        Ok(pairs) => pairs.iter().all(|p| p.status.is_ok() || p.status.is_failure()),
        Err(_) => false,
    }
}

/// Ends a run: its status and status event (refused when the run is not this
/// instance's any more), then the notification (queued for the mailer; it never holds up
/// or fails the run).
async fn end_run(state: &AppState, fence: &Fence, status: TaskStatus) -> anyhow::Result<()> {
    state.runs.ending(fence.task_id, fence.attempt);
    runs::finish_run(&state.db, fence, status).await?;
    crate::mail::task_finished(state, fence.task_id, status).await;
    Ok(())
}

/// The task's status from each pair's latest state.
pub async fn final_status(state: &AppState, task_id: i64) -> anyhow::Result<TaskStatus> {
    if runs::abort_requested(&state.db, task_id).await? {
        return Ok(TaskStatus::Aborted);
    }
    let latest = runs::latest_pairs(&state.db, task_id).await?;
    let all_ok = latest.iter().all(|p| p.status.is_ok());
    Ok(if all_ok { TaskStatus::Success } else { TaskStatus::Failed })
}

/// Polls the database for aborts asked on other instances (this one signals its runs
/// directly): one query a second for all of this instance's runs, however many.
pub async fn watch_abort_flags(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        if state.runs.is_empty() {
            continue;
        }
        match runs::aborts_requested(&state.db, &state.node_id).await {
            Ok(ids) => ids.into_iter().for_each(|id| state.runs.abort(id)),
            Err(e) => tracing::warn!(error = %e, "reading the abort requests failed"),
        }
    }
}

impl Run {
    /// Whether this instance may start a step of the run: at once while its lease holds;
    /// in the lease's last moments, once a late renewal came (false when it did not).
    async fn hold(&self) -> bool {
        self.state.runs.hold(self.fence.task_id, self.fence.attempt).await
    }
}

/// Pairs grouped by host, hosts in the order they first appear, steps in order.
fn by_host(pairs: Vec<PairRow>) -> Vec<(String, Vec<PairRow>)> {
    let mut hosts: Vec<(String, Vec<PairRow>)> = Vec::new();
    for p in pairs {
        match hosts.iter_mut().find(|(h, _)| *h == p.host) {
            Some((_, list)) => list.push(p),
            None => hosts.push((p.host.clone(), vec![p])),
        }
    }
    for (_, list) in &mut hosts {
        list.sort_by_key(|p| p.step_index);
    }
    hosts
}

/// Each host walks its steps at its own pace. Returns true when a stop policy fired.
async fn run_free(run: &Arc<Run>, hosts: Vec<(String, Vec<PairRow>)>) -> bool {
    let mut workers = tokio::task::JoinSet::new();
    for (host, pairs) in hosts {
        let run = run.clone();
        workers.spawn(async move {
            let mut worker = HostWorker::new(&host);
            let mut stopped = false;
            for pair in pairs {
                if stopped || !worker.run_pair(&run, pair).await {
                    stopped = true;
                }
            }
            worker.close().await;
            stopped
        });
    }
    let mut stop = false;
    while let Some(r) = workers.join_next().await {
        stop |= r.unwrap_or(true);
    }
    stop
}

/// Every host finishes a step before any host starts the next.
async fn run_lockstep(run: &Arc<Run>, hosts: Vec<(String, Vec<PairRow>)>) -> bool {
    let workers: Vec<Arc<Mutex<(HostWorker, bool)>>> =
        hosts.iter().map(|(h, _)| Arc::new(Mutex::new((HostWorker::new(h), false)))).collect();
    let steps: std::collections::BTreeSet<i64> =
        hosts.iter().flat_map(|(_, ps)| ps.iter().map(|p| p.step_index)).collect();
    for step in steps {
        let mut round = tokio::task::JoinSet::new();
        for (i, (_, pairs)) in hosts.iter().enumerate() {
            let Some(pair) = pairs.iter().find(|p| p.step_index == step).cloned() else { continue };
            let (run, worker) = (run.clone(), workers[i].clone());
            round.spawn(async move {
                let mut guard = worker.lock().await;
                let (worker, stopped) = &mut *guard;
                if *stopped {
                    return;
                }
                if !worker.run_pair(&run, pair).await {
                    *stopped = true;
                }
                // Between steps a lockstep host waits for the others: it keeps its
                // connection but gives its slots to hosts still on this step.
                worker.slots = None;
            });
        }
        while round.join_next().await.is_some() {}
    }
    let mut stop = false;
    for w in workers {
        let mut guard = w.lock().await;
        stop |= guard.1;
        let worker = std::mem::replace(&mut guard.0, HostWorker::new(""));
        worker.close().await;
    }
    stop
}

/// A first batch of `canary_size` hosts; the rest only if the whole batch succeeded.
async fn run_canary(run: &Arc<Run>, mut hosts: Vec<(String, Vec<PairRow>)>) -> bool {
    let size = (run.snapshot.canary_size.max(1) as usize).min(hosts.len());
    let rest = hosts.split_off(size);
    let canary_ids: Vec<i64> = hosts.iter().flat_map(|(_, ps)| ps.iter().map(|p| p.id)).collect();
    let stop = run_free(run, hosts).await;
    let mut ok = true;
    for id in canary_ids {
        ok &= runs::get_pair(&run.state.db, id).await.is_ok_and(|p| p.status.is_ok());
    }
    if !ok || *run.abort.borrow() {
        for (_, pairs) in &rest {
            for p in pairs {
                let mut p = p.clone();
                p.message = "held back: the canary batch did not succeed".into();
                HostWorker::save_from(run, &p, &[PairStatus::Pending, PairStatus::Waiting]).await;
            }
        }
        return true;
    }
    stop | run_free(run, rest).await
}

/// What became of a pair's saved state.
enum Saved {
    Done,
    /// The pair had left the statuses it could change from (it was skipped meanwhile).
    Changed,
    /// Refused (the run is another's), or the database did not take it.
    Failed,
}

/// One host's session within a run.
struct HostWorker {
    host: String,
    remote: Option<Remote>,
    /// Set when the host cannot be reached: its later pairs are not attempted.
    unreachable: bool,
    /// Its places under the task's and the instance's limits, held while it works and
    /// given up while it waits (for a manual release, for exec_time, for other hosts).
    slots: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
}

impl HostWorker {
    fn new(host: &str) -> Self {
        HostWorker { host: host.to_string(), remote: None, unreachable: false, slots: None }
    }

    async fn take_slots(&mut self, run: &Run) {
        if self.slots.is_none() {
            let task = run.per_task.clone().acquire_owned().await.expect("semaphore open");
            let global = run.state.run_slots.clone().acquire_owned().await.expect("semaphore open");
            self.slots = Some((task, global));
        }
    }

    async fn close(self) {
        if let Some(r) = self.remote {
            r.close().await;
        }
    }

    /// Marks the pair aborted when the run is being aborted; true if it was.
    async fn aborted_before_start(run: &Run, pair: &mut PairRow) -> bool {
        if !*run.abort.borrow() {
            return false;
        }
        pair.status = PairStatus::Aborted;
        pair.message = "aborted before it started".into();
        pair.finished_at = Some(now_ms());
        Self::save(run, pair).await;
        true
    }

    async fn save(run: &Run, pair: &PairRow) {
        Self::save_from(run, pair, &[]).await;
    }

    /// Saves the pair's state (from one of `only_from`, when given). A write that takes
    /// longer than the lease is given up: the run is not this instance's by then.
    async fn save_from(run: &Run, pair: &PairRow, only_from: &[PairStatus]) -> Saved {
        let masked;
        let pair = if pair.message.is_empty() {
            pair
        } else {
            masked = PairRow { message: run.log.mask(&pair.message), ..pair.clone() };
            &masked
        };
        let saving = runs::save_pair(&run.state.db, &run.fence, pair, only_from);
        let saved = match tokio::time::timeout(run.state.runs.lease().length, saving).await {
            Ok(Ok(true)) => Saved::Done,
            Ok(Ok(false)) => Saved::Changed,
            Ok(Err(StoreError::Fenced { .. })) => {
                fenced(&run.state, &run.fence);
                Saved::Failed
            }
            Ok(Err(e)) => {
                tracing::error!(task = run.task.id, error = %e, "saving a pair's status failed");
                Saved::Failed
            }
            Err(_) => {
                tracing::error!(task = run.task.id, "saving a pair's status took longer than the lease");
                Saved::Failed
            }
        };
        run.state.events.notify(run.task.id);
        saved
    }

    /// Runs one pair. Returns false when this host must not go on (stop policy, lost host).
    async fn run_pair(&mut self, run: &Run, mut pair: PairRow) -> bool {
        let step = run.snapshot.steps[pair.step_index as usize].clone();
        if self.unreachable {
            return false;
        }
        // Someone may have skipped it meanwhile.
        if let Ok(now) = runs::get_pair(&run.state.db, pair.id).await {
            if now.status == PairStatus::Skipped {
                return true;
            }
            pair = now;
        }
        if Self::aborted_before_start(run, &mut pair).await {
            return false;
        }
        let mut log = run.log.pair(pair.attempt, pair.step_index, &self.host);
        if !self.wait_trigger(run, &step, &mut pair, &mut log).await {
            return pair.status == PairStatus::Skipped;
        }
        self.take_slots(run).await;
        // An abort may have come while this host queued for its slots.
        if Self::aborted_before_start(run, &mut pair).await {
            return false;
        }
        if self.remote.is_none() {
            match self.connect(run, &mut log).await {
                Ok(r) => self.remote = Some(r),
                Err(message) => {
                    self.unreachable = true;
                    log.system(&message).await;
                    log.finish().await;
                    pair.status = PairStatus::Unreachable;
                    pair.message = message;
                    pair.started_at = Some(now_ms());
                    pair.finished_at = Some(now_ms());
                    Self::save(run, &pair).await;
                    return false;
                }
            }
        }
        let (program, nonce) = match self.program(run, &step) {
            Ok(p) => p,
            Err(message) => {
                pair.status = PairStatus::Failed;
                pair.message = message;
                pair.finished_at = Some(now_ms());
                Self::save(run, &pair).await;
                return step.on_failure == OnFailure::Continue;
            }
        };
        // Only the run's owner, within its lease, starts a step (see `task::lease`).
        if !run.hold().await {
            return false;
        }
        let (pgid_tx, mut pgid_rx) = watch::channel(None);
        let mut group: Option<StepGroup> = None;
        let spec = StepSpec {
            program: &program,
            timeout: Duration::from_secs(step.timeout_secs.max(1) as u64),
            pgid: &pgid_tx,
            nonce: &nonce,
        };
        pair.status = PairStatus::Running;
        pair.started_at = Some(now_ms());
        pair.message.clear();
        // The step starts only once its start is recorded: not if it was skipped
        // meanwhile, and not if the run is not this instance's any more.
        match Self::save_from(run, &pair, &[PairStatus::Pending, PairStatus::Waiting]).await {
            Saved::Done => {}
            Saved::Changed => return true,
            Saved::Failed => return false,
        }
        if !run.hold().await {
            // The lease ran out while the start was recorded: the step never started.
            pair.status = PairStatus::Pending;
            pair.started_at = None;
            Self::save_from(run, &pair, &[PairStatus::Running]).await;
            return false;
        }

        let mut abort = run.abort.clone();
        let mut outcome = Outcome::Lost(String::new());
        // The pair's recorded group changes in the order the tries report (one writer).
        let (record, mut records) = tokio::sync::mpsc::unbounded_channel::<Option<StepGroup>>();
        let (state, fence, pair_id) = (run.state.clone(), run.fence.clone(), pair.id);
        tokio::spawn(async move {
            while let Some(g) = records.recv().await {
                record_group(&state, &fence, pair_id, g.as_ref()).await;
            }
        });
        for attempt in 0..=step.retries {
            if attempt > 0 && !run.hold().await {
                break;
            }
            pair.tries = attempt + 1;
            // Each try reports its own process group; a kill never aims at an earlier one's.
            pgid_tx.send_replace(None);
            pgid_rx.mark_unchanged();
            if pair.pgid.take().is_some() {
                // Forgotten before the next try's is recorded, so that nobody aims at it.
                let _ = record.send(None);
            }
            group = None;
            // A connection given up after an unproven kill is replaced for the next try.
            if self.remote.is_none() {
                match self.connect(run, &mut log).await {
                    Ok(r) => self.remote = Some(r),
                    Err(message) => {
                        outcome = Outcome::Lost(message);
                        break;
                    }
                }
            }
            let Some(remote) = self.remote.as_ref() else { break };
            outcome = {
                let running = remote.run(&spec, &mut log, &mut abort);
                tokio::pin!(running);
                loop {
                    tokio::select! {
                        o = &mut running => break o,
                        Ok(()) = pgid_rx.changed() => {
                            let reported = pgid_rx.borrow_and_update().clone();
                            if let Some(g) = reported {
                                pair.pgid = Some(g.pgid);
                                let _ = record.send(Some(g.clone()));
                                group = Some(g);
                            }
                        }
                    }
                }
            };
            // A report that came with the end, in the same turn.
            if group.is_none() {
                if let Some(g) = pgid_rx.borrow_and_update().clone() {
                    pair.pgid = Some(g.pgid);
                    let _ = record.send(Some(g.clone()));
                    group = Some(g);
                }
            }
            // A kill through this connection that found no proof (the connection hangs or
            // broke): again through a new one.
            let unproven = matches!(outcome,
                Outcome::TimedOut { kill_confirmed } | Outcome::Aborted { kill_confirmed } if kill_confirmed != Some(true));
            if let Some(g) = group.clone().filter(|_| unproven && self.host != plan::LOCAL) {
                let confirmed = Some(self.kill_again(run, &g, &mut log).await);
                outcome = match outcome {
                    Outcome::TimedOut { .. } => Outcome::TimedOut { kill_confirmed: confirmed },
                    Outcome::Aborted { .. } => Outcome::Aborted { kill_confirmed: confirmed },
                    other => other,
                };
            }
            // No new try while the last one may still run.
            let killed = !matches!(outcome, Outcome::TimedOut { kill_confirmed } if kill_confirmed != Some(true));
            let retryable = killed
                && (matches!(outcome, Outcome::Exited(c) if c != 0)
                    || matches!(outcome, Outcome::TimedOut { .. } | Outcome::Signalled(_)));
            if !retryable || attempt == step.retries || *run.abort.borrow() {
                break;
            }
            log.system(&format!(
                "try {} of {} failed ({}); trying again",
                attempt + 1,
                step.retries + 1,
                describe(&outcome)
            ))
            .await;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        // The connection broke mid-step: what the step started may still run there.
        if let (Outcome::Lost(why), Some(g)) = (&outcome, group.as_ref().filter(|_| self.host != plan::LOCAL)) {
            self.remote = None;
            log.system(&format!("{why}; connecting again to kill the step's processes")).await;
            let report = reap::kill_on_host(&run.state, &self.host, g).await;
            log.system(&report.describe(g.pgid)).await;
            pair.kill_confirmed = Some(i64::from(report.confirmed()));
            outcome = Outcome::Lost(format!("{why}; {}", report.describe(g.pgid)));
        }
        log.finish().await;
        let (status, message) = match &outcome {
            Outcome::Exited(0) => (PairStatus::Success, String::new()),
            Outcome::Exited(c) => (PairStatus::Failed, format!("exited with status {c}")),
            Outcome::Signalled(s) => (PairStatus::Failed, format!("killed by signal {s}")),
            Outcome::TimedOut { .. } => (PairStatus::Timeout, format!("timed out after {} s", step.timeout_secs)),
            Outcome::Aborted { .. } => (PairStatus::Aborted, "aborted".to_string()),
            Outcome::Lost(m) => (PairStatus::Unreachable, m.clone()),
        };
        pair.status = status;
        pair.message = message;
        pair.exit_code = match outcome {
            Outcome::Exited(c) => Some(c),
            _ => None,
        };
        pair.kill_confirmed = match outcome {
            Outcome::TimedOut { kill_confirmed } | Outcome::Aborted { kill_confirmed } => {
                Some(i64::from(kill_confirmed.unwrap_or(false)))
            }
            Outcome::Lost(_) => pair.kill_confirmed,
            _ => None,
        };
        pair.finished_at = Some(now_ms());
        Self::save(run, &pair).await;
        match status {
            PairStatus::Success => true,
            PairStatus::Unreachable => {
                self.unreachable = true;
                false
            }
            PairStatus::Aborted => false,
            _ => step.on_failure == OnFailure::Continue,
        }
    }

    /// Kills the step's group through a new connection, after a kill through the step's
    /// own connection found no proof; drops that connection if it is gone. True when the
    /// group is gone.
    async fn kill_again(&mut self, run: &Run, group: &StepGroup, log: &mut PairLog) -> bool {
        // The step's own connection proved nothing: it is given up (closed aside), and the
        // host's next try or step gets a new one.
        if let Some(old) = self.remote.take() {
            tokio::spawn(old.close());
        }
        log.system("connecting again to kill the step's processes").await;
        let report = reap::kill_on_host(&run.state, &self.host, group).await;
        log.system(&report.describe(group.pgid)).await;
        report.confirmed()
    }

    /// The step rendered for this host, and the program that runs it.
    fn program(&self, run: &Run, step: &SnapshotStep) -> Result<(String, String), String> {
        let mut builtins = run.builtins.clone();
        builtins.insert("HOST".into(), self.host.clone());
        builtins.insert("HOST_GROUP".into(), step.group.clone());
        builtins.insert("STEP_NAME".into(), step.name.clone());
        if run.snapshot.raw_params && step.group == plan::LOCAL {
            // Templates saved before this was refused: a raw argument in a local step
            // would run with the server's own rights.
            return Err(crate::catalogue::templates::LOCAL_RAW_REFUSED.to_string());
        }
        let vars = render::Vars { args: &run.args, builtins: &builtins, raw: run.snapshot.raw_params };
        let script = render::render(&step.body, &vars, &step.interpreter)?;
        // Built-ins win over an argument of the same name, as they always have.
        let mut env: BTreeMap<String, String> = run.args.clone();
        env.extend(builtins);
        for (k, v) in &env {
            api_types::validate::param_key("", k)
                .map_err(|e| format!("argument {k:?} cannot be passed to the step: {}", e.message))?;
            if v.contains('\0') {
                return Err(format!("argument {k} contains a NUL byte, which no program can receive"));
            }
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let nonce = format!("{:016x}", rand::random::<u64>());
        let report = (self.host != plan::LOCAL).then_some(nonce.as_str());
        Ok((render::program(&step.interpreter, &script, &env, report), nonce))
    }

    /// Holds a `timed` step until exec_time and a `manual` step until it is released.
    /// Returns false when the wait ended by abort or skip.
    async fn wait_trigger(&mut self, run: &Run, step: &SnapshotStep, pair: &mut PairRow, log: &mut PairLog) -> bool {
        let reason = match step.trigger {
            Trigger::Auto => return true,
            Trigger::Timed if run.task.exec_time <= now_ms() => return true,
            Trigger::Timed => format!("waiting for exec_time {}", store::rfc3339(run.task.exec_time)),
            Trigger::Manual if pair.released != 0 => return true,
            Trigger::Manual => "waiting to be released".to_string(),
        };
        // A waiting host lets others work meanwhile.
        self.slots = None;
        pair.status = PairStatus::Waiting;
        pair.message = reason.clone();
        match Self::save_from(run, pair, &[PairStatus::Pending, PairStatus::Waiting]).await {
            Saved::Done => {}
            Saved::Changed => {
                pair.status = PairStatus::Skipped;
                return false;
            }
            Saved::Failed => return false,
        }
        log.system(&reason).await;
        let mut abort = run.abort.clone();
        loop {
            let pause = match step.trigger {
                Trigger::Timed => Duration::from_millis((run.task.exec_time - now_ms()).clamp(1, 1000) as u64),
                _ => Duration::from_secs(1),
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = run.release.notified() => {}
                _ = abort.wait_for(|a| *a) => {}
            }
            if *run.abort.borrow() {
                pair.status = PairStatus::Aborted;
                pair.message = "aborted while waiting".into();
                pair.finished_at = Some(now_ms());
                Self::save_from(run, pair, &[PairStatus::Pending, PairStatus::Waiting]).await;
                return false;
            }
            let now = match runs::get_pair(&run.state.db, pair.id).await {
                Ok(p) => p,
                Err(_) => continue,
            };
            if now.status == PairStatus::Skipped {
                pair.status = now.status;
                return false;
            }
            let go = match step.trigger {
                Trigger::Timed => run.task.exec_time <= now_ms(),
                _ => now.released != 0,
            };
            if go {
                pair.released = now.released;
                log.system("released").await;
                return true;
            }
        }
    }

    async fn connect(&self, run: &Run, log: &mut PairLog) -> Result<Remote, String> {
        if self.host == plan::LOCAL {
            return Ok(Remote::Local);
        }
        let target = run.catalogue.resolve(&run.state.keys, &self.host)?;
        log.system(&format!("connecting to {}@{}:{}", target.user, target.address, target.port)).await;
        // The timeout runs from when this handshake gets its turn, not from when it queued.
        let _turn = run.state.handshakes.acquire().await.map_err(|e| e.to_string())?;
        let timeout = Duration::from_secs(run.state.settings.ssh_connect_timeout_secs);
        let first_use = target.host_key == remote::HostKeyPolicy::TrustOnFirstUse;
        let record = first_use.then(|| record_first_use(&run.state.db, &target));
        let keepalive = Duration::from_secs(run.state.settings.ssh_keepalive_secs);
        match Remote::connect(&target, timeout, record, keepalive).await {
            Ok((remote, fingerprint)) => {
                if first_use {
                    if let Err(e) = store::catalogue::pin_host_key(&run.state.db, target.host_id, &fingerprint).await {
                        tracing::warn!(host = ?self.host, error = %e, "pinning the first-use host key failed");
                    }
                    log.system(&format!(
                        "pinned host key {fingerprint} (first use of {}:{})",
                        target.address, target.port
                    ))
                    .await;
                }
                Ok(remote)
            }
            Err(e @ ConnectError::HostKeyMismatch { .. }) => Err(format!("refused: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Records the step's process group, for a kill through another connection or by another
/// instance. Bounded by the lease: a database that hangs holds up nothing for longer.
async fn record_group(state: &AppState, fence: &Fence, pair_id: i64, group: Option<&StepGroup>) {
    let recording = runs::set_pair_pgid(
        &state.db,
        fence,
        pair_id,
        group.map(|g| g.pgid),
        group.and_then(|g| g.boot.as_deref()),
        group.and_then(|g| g.start),
    );
    match tokio::time::timeout(state.runs.lease().length, recording).await {
        Ok(Ok(())) => {}
        Ok(Err(StoreError::Fenced { .. })) => fenced(state, fence),
        Ok(Err(e)) => tracing::warn!(task = fence.task_id, error = %e, "recording a step's process group failed"),
        Err(_) => tracing::warn!(task = fence.task_id, "recording a step's process group took longer than the lease"),
    }
}

/// Records a first-use key for the target's registered address and port.
pub(crate) fn record_first_use(db: &store::Db, target: &remote::Target) -> remote::RecordFirstUse {
    let (db, address, port) = (db.clone(), target.address.clone(), i64::from(target.port));
    Arc::new(move |fingerprint: String| {
        let (db, address) = (db.clone(), address.clone());
        Box::pin(async move {
            store::catalogue::record_first_use_key(&db, &address, port, &fingerprint).await.map_err(|e| e.to_string())
        })
    })
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Exited(c) => format!("exit status {c}"),
        Outcome::Signalled(s) => format!("signal {s}"),
        Outcome::TimedOut { .. } => "timeout".into(),
        Outcome::Aborted { .. } => "aborted".into(),
        Outcome::Lost(m) => m.clone(),
    }
}
