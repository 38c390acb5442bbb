//! Running tasks: claiming due tasks, the pairs of each attempt, heartbeats, and the
//! per-task event stream (log lines and status changes).

use api_types::{PairStatus, TaskStatus};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{now_ms, Db, Dialect, StoreError, StoreResult};

/// The key of every write a run makes: the task, its attempt, and the instance that
/// owns it. A write names it and is refused (`StoreError::Fenced`) when the task is no
/// longer running that attempt for that owner.
#[derive(Debug, Clone)]
pub struct Fence {
    pub task_id: i64,
    pub attempt: i64,
    pub owner: std::sync::Arc<str>,
}

impl Fence {
    fn refused(&self) -> StoreError {
        StoreError::Fenced { task_id: self.task_id, attempt: self.attempt, owner: self.owner.to_string() }
    }
}

/// The condition on the `tasks` row that fences a write: its parameters are the attempt
/// at `$a`, the owner at `$a+1` and the task id at `$a+2`.
fn fence_clause(a: usize) -> String {
    format!("attempt = ${} AND claimed_by = ${} AND status = 'running' AND id = ${}", a, a + 1, a + 2)
}

/// A task claimed for a run: what planning its pairs needs (the full row is read again
/// by its run), and the sequence number of its `running` event.
#[derive(Debug, sqlx::FromRow)]
pub struct ClaimedTask {
    pub id: i64,
    pub attempt: i64,
    pub due_at: Option<i64>,
    pub event_seq: i64,
    pub template_snapshot: String,
    pub hosts: String,
}

/// Claims up to `limit` due tasks for `node`, earliest first: each one's run begins
/// (status, lease, attempt, and a sequence number for its `running` event). The claim
/// stops before the task whose host list would take the batch's lists past
/// `hosts_budget` characters (the first task is always taken): a batch of large tasks
/// stays a short transaction.
pub async fn claim_due(
    conn: &mut AnyConnection,
    dialect: Dialect,
    node: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
    hosts_budget: i64,
) -> StoreResult<Vec<ClaimedTask>> {
    // PostgreSQL: instances racing for the same rows skip them instead of waiting (and
    // the rows stay locked until the commit). SQLite: the write transaction (BEGIN
    // IMMEDIATE) already serialises claimers.
    let lock = if dialect == Dialect::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "SELECT id, LENGTH(hosts) FROM tasks WHERE status = 'ready' AND due_at <= $1 ORDER BY due_at, id LIMIT $2 {lock}"
    );
    let due: Vec<(i64, i64)> = sqlx::query_as(AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(&mut *conn).await?;
    let mut ids = Vec::with_capacity(due.len());
    let mut size = 0;
    for (id, len) in due {
        size += len;
        if !ids.is_empty() && size > hosts_budget {
            break;
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Ok(vec![]);
    }
    // Bound in the order they appear (by position on SQLite, see `placeholders`).
    let p = super::placeholders(conn, 5 + ids.len());
    let sql = format!(
        "UPDATE tasks SET status = 'running', claimed_by = {}, heartbeat_at = {}, lease_until = {}, started_at = {},
            finished_at = NULL, attempt = attempt + 1, abort_requested = 0, updated_at = {}, event_seq = event_seq + 1
         WHERE id IN ({}) AND status = 'ready'
         RETURNING id, attempt, due_at, event_seq, template_snapshot, hosts",
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        p[5..].join(", ")
    );
    let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(node).bind(now).bind(now + lease_ms).bind(now).bind(now);
    for id in ids {
        q = q.bind(id);
    }
    let mut claimed: Vec<ClaimedTask> = q.fetch_all(conn).await?;
    claimed.sort_by_key(|c| (c.due_at, c.id));
    Ok(claimed)
}

/// When the next `ready` task falls due.
pub async fn next_due(db: &Db) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT MIN(due_at) FROM tasks WHERE status = 'ready'").fetch_one(&db.pool).await?)
}

/// Starts a new attempt of a finished task (redo) for `node`, leased until
/// `now + lease_ms`. Returns the attempt number, or `None` when the task was not in `from`.
pub async fn restart_task(
    conn: &mut AnyConnection,
    id: i64,
    from: &str,
    node: &str,
    lease_ms: i64,
) -> StoreResult<Option<i64>> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "UPDATE tasks SET status = 'running', claimed_by = $1, heartbeat_at = $2, lease_until = $5, started_at = $2,
            finished_at = NULL, attempt = attempt + 1, abort_requested = 0, updated_at = $2
         WHERE id = $3 AND status = $4 RETURNING attempt",
    )
    .bind(node)
    .bind(now)
    .bind(id)
    .bind(from)
    .bind(now + lease_ms)
    .fetch_optional(conn)
    .await?)
}

/// Ends a run, `running` → `status`, with its status event, in one transaction; refused
/// when the run is no longer `fence`'s.
pub async fn finish_run(db: &Db, fence: &Fence, status: TaskStatus) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let sql = format!(
        "UPDATE tasks SET status = $1, finished_at = $2, claimed_by = NULL, lease_until = NULL, updated_at = $2
         WHERE {}",
        fence_clause(3)
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(now)
        .bind(fence.attempt)
        .bind(&*fence.owner)
        .bind(fence.task_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(fence.refused());
    }
    insert_task_event(&mut tx, fence.task_id, fence.attempt, status).await?;
    tx.commit().await?;
    Ok(())
}

/// Who runs a running task now, and until when (the owner's clock).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunOwner {
    pub attempt: i64,
    pub claimed_by: Option<String>,
    pub lease_until: Option<i64>,
}

pub async fn run_owner(db: &Db, id: i64) -> StoreResult<Option<RunOwner>> {
    Ok(sqlx::query_as("SELECT attempt, claimed_by, lease_until FROM tasks WHERE id = $1 AND status = 'running'")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// Takes over a run whose owner's lease ended before `stale_before` (or whose owner is
/// `own`, this instance at its start): its unfinished pairs become `aborted` with
/// `message`, and the task `interrupted` (or `aborted` when an abort was asked), each
/// with its status event. `None` when someone else got there first or the owner renewed;
/// else the status and the pairs aborted, as they are now.
pub async fn take_over(
    tx: &mut AnyConnection,
    task_id: i64,
    attempt: i64,
    own: Option<&str>,
    stale_before: i64,
    message: &str,
) -> StoreResult<Option<(TaskStatus, Vec<PairRow>)>> {
    let now = now_ms();
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE tasks SET status = CASE WHEN abort_requested = 0 THEN 'interrupted' ELSE 'aborted' END,
            finished_at = $1, claimed_by = NULL, lease_until = NULL, updated_at = $1
         WHERE id = $2 AND attempt = $3 AND status = 'running'
           AND (claimed_by = $4 OR claimed_by IS NULL OR lease_until IS NULL OR lease_until < $5)
         RETURNING status",
    )
    .bind(now)
    .bind(task_id)
    .bind(attempt)
    .bind(own.unwrap_or(""))
    .bind(stale_before)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(status) = status else { return Ok(None) };
    let status = TaskStatus::try_from(status).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql = format!(
        "UPDATE task_pairs SET status = 'aborted', finished_at = $1, message = $4,
            reap = CASE WHEN pgid IS NOT NULL AND started_at IS NOT NULL THEN 1 ELSE 0 END
         WHERE task_id = $2 AND attempt = $3 AND status IN ('running', 'waiting')
         RETURNING {PAIR_COLUMNS}"
    );
    let pairs: Vec<PairRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(now)
        .bind(task_id)
        .bind(attempt)
        .bind(message)
        .fetch_all(&mut *tx)
        .await?;
    for p in &pairs {
        insert_pair_event(&mut *tx, task_id, attempt, p.step_index, &p.host, &pair_event_body(p)).await?;
    }
    insert_task_event(&mut *tx, task_id, attempt, status).await?;
    Ok(Some((status, pairs)))
}

/// A `failed` task whose failures were all skipped becomes a `success`, with its status
/// event. False when it was not `failed` (any more).
pub async fn succeed_after_skip(conn: &mut AnyConnection, id: i64, attempt: i64) -> StoreResult<bool> {
    let changed = sqlx::query(
        "UPDATE tasks SET status = 'success', updated_at = $1 WHERE id = $2 AND status = 'failed' AND attempt = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(attempt)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 1 {
        insert_task_event(conn, id, attempt, TaskStatus::Success).await?;
    }
    Ok(changed == 1)
}

pub async fn request_abort(conn: &mut AnyConnection, id: i64) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE tasks SET abort_requested = 1, updated_at = $1 WHERE id = $2 AND status = 'running'")
            .bind(now_ms())
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The tasks `node` runs whose abort was asked.
pub async fn aborts_requested(db: &Db, node: &str) -> StoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM tasks WHERE claimed_by = $1 AND status = 'running' AND abort_requested = 1")
        .bind(node)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn abort_requested(db: &Db, id: i64) -> StoreResult<bool> {
    let flag: i64 =
        sqlx::query_scalar("SELECT abort_requested FROM tasks WHERE id = $1").bind(id).fetch_one(&db.pool).await?;
    Ok(flag != 0)
}

/// Renews the leases of `node`'s runs until `now + lease_ms`; returns the runs it still
/// holds, as (task id, attempt).
pub async fn renew_leases(db: &Db, node: &str, now: i64, lease_ms: i64) -> StoreResult<Vec<(i64, i64)>> {
    // Ahead of the runs' own writes: a renewal queued behind a thousand hosts' status
    // changes would arrive after the lease it renews.
    let mut tx = db.begin_urgent_write().await?;
    let held = sqlx::query_as(
        "UPDATE tasks SET heartbeat_at = $1, lease_until = $3 WHERE claimed_by = $2 AND status = 'running'
         RETURNING id, attempt",
    )
    .bind(now)
    .bind(node)
    .bind(now + lease_ms)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(held)
}

/// Runs that no live instance carries on: those of `own` (this instance, at its start)
/// and those whose lease ended before `stale_before`.
pub async fn orphaned_runs(db: &Db, own: Option<&str>, stale_before: i64) -> StoreResult<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, attempt FROM tasks WHERE status = 'running'
           AND (claimed_by = $1 OR claimed_by IS NULL OR lease_until IS NULL OR lease_until < $2)",
    )
    .bind(own.unwrap_or(""))
    .bind(stale_before)
    .fetch_all(&db.pool)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PairRow {
    pub id: i64,
    pub task_id: i64,
    pub attempt: i64,
    pub step_index: i64,
    pub step_name: String,
    pub grp: String,
    pub host: String,
    #[sqlx(try_from = "String")]
    pub status: PairStatus,
    pub tries: i64,
    pub exit_code: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub message: String,
    pub pgid: Option<i64>,
    /// The boot the step's group ran in, and its leader's start time (see `executor::kill`).
    pub pgid_boot: Option<String>,
    pub pgid_start: Option<i64>,
    pub kill_confirmed: Option<i64>,
    pub released: i64,
    /// 1: its steps are still to be killed (its run was taken over); above 1: the time an
    /// instance claimed that kill; 0: nothing to do.
    pub reap: i64,
}

const PAIR_COLUMNS: &str = "id, task_id, attempt, step_index, step_name, grp, host, status, tries, exit_code,
    started_at, finished_at, message, pgid, pgid_boot, pgid_start, kill_confirmed, released, reap";

pub struct NewPair<'a> {
    pub step_index: i64,
    pub step_name: &'a str,
    pub group: &'a str,
    pub host: &'a str,
}

pub async fn insert_pairs(
    conn: &mut AnyConnection,
    task_id: i64,
    attempt: i64,
    pairs: &[NewPair<'_>],
) -> StoreResult<()> {
    insert_attempts_pairs(conn, &[(task_id, attempt, pairs)]).await
}

/// The pairs of several attempts (task id, attempt, pairs): one statement per
/// [`super::ROWS_PER_INSERT`] pairs.
pub async fn insert_attempts_pairs(
    conn: &mut AnyConnection,
    attempts: &[(i64, i64, &[NewPair<'_>])],
) -> StoreResult<()> {
    let rows: Vec<(i64, i64, &NewPair)> =
        attempts.iter().flat_map(|(task, attempt, pairs)| pairs.iter().map(move |p| (*task, *attempt, p))).collect();
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        let sql = super::multi_row_insert(
            conn,
            "INSERT INTO task_pairs (task_id, attempt, step_index, step_name, grp, host, status) VALUES",
            chunk.len(),
            7,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (task, attempt, p) in chunk {
            q = q
                .bind(*task)
                .bind(*attempt)
                .bind(p.step_index)
                .bind(p.step_name.to_string())
                .bind(p.group.to_string())
                .bind(p.host.to_string())
                .bind("pending");
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every pair at its latest attempt, by step, then by host.
pub async fn latest_pairs(db: &Db, task_id: i64) -> StoreResult<Vec<PairRow>> {
    latest_pairs_after(db, task_id, &PairCursor::START, i64::MAX).await
}

/// Where a read of the latest pairs goes on from: after this step and host (the order
/// of [`latest_pairs`]), which a redo does not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairCursor {
    pub step_index: i64,
    pub host: String,
}

impl PairCursor {
    pub const START: PairCursor = PairCursor { step_index: -1, host: String::new() };
}

/// Up to `limit` pairs at their latest attempt, after `cursor`: an ordered walk of the
/// index `task_pairs_latest` from the cursor on, each pair's latest attempt one seek.
/// [`latest_pairs`] read inside the caller's (write) transaction: what it sees includes
/// the writes that wait for the same commit.
pub async fn latest_pairs_in(conn: &mut AnyConnection, task_id: i64) -> StoreResult<Vec<PairRow>> {
    Ok(sqlx::query_as(AssertSqlSafe(latest_pairs_sql()))
        .bind(task_id)
        .bind(PairCursor::START.step_index)
        .bind(String::new())
        .bind(i64::MAX)
        .fetch_all(conn)
        .await?)
}

pub async fn latest_pairs_after(db: &Db, task_id: i64, cursor: &PairCursor, limit: i64) -> StoreResult<Vec<PairRow>> {
    Ok(sqlx::query_as(AssertSqlSafe(latest_pairs_sql()))
        .bind(task_id)
        .bind(cursor.step_index)
        .bind(cursor.host.clone())
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}

/// A page is a walk of the index `task_pairs_latest` from its cursor on, in its order,
/// and whether a pair is its latest attempt one seek of the same index. (With only
/// `task_pairs_key` each pair's check scanned all the task's pairs, quadratic in them; as
/// `attempt = (SELECT MAX ...)` and an OR for the cursor, PostgreSQL read and sorted the
/// whole rest of the task for every page: 200 ms a page of 500 at 30,000 pairs, against
/// 4 ms now.)
fn latest_pairs_sql() -> String {
    format!(
        "SELECT {PAIR_COLUMNS} FROM task_pairs p WHERE p.task_id = $1
           AND (p.step_index, p.host) > ($2, $3)
           AND NOT EXISTS (SELECT 1 FROM task_pairs q WHERE q.task_id = p.task_id
               AND q.step_index = p.step_index AND q.host = p.host AND q.attempt > p.attempt)
         ORDER BY p.step_index, p.host LIMIT $4"
    )
}

pub async fn attempt_pairs(db: &Db, task_id: i64, attempt: i64) -> StoreResult<Vec<PairRow>> {
    let sql =
        format!("SELECT {PAIR_COLUMNS} FROM task_pairs WHERE task_id = $1 AND attempt = $2 ORDER BY step_index, id");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(task_id).bind(attempt).fetch_all(&db.pool).await?)
}

pub async fn get_pair(db: &Db, id: i64) -> StoreResult<PairRow> {
    let sql = format!("SELECT {PAIR_COLUMNS} FROM task_pairs WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

/// Locks the task's row for the run's owner, first in every fenced transaction (so that
/// a takeover, which also starts with the task's row, waits or is waited for; on SQLite
/// the write transaction already holds the database). Refused when the run is no longer
/// `fence`'s.
async fn lock_run(conn: &mut AnyConnection, dialect: Dialect, fence: &Fence) -> StoreResult<()> {
    let lock = if dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT id FROM tasks WHERE {}{lock}", fence_clause(1));
    let found: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(fence.attempt)
        .bind(&*fence.owner)
        .bind(fence.task_id)
        .fetch_optional(conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| fence.refused())
}

/// Locks a task's row (see `lock_run`) for a change of its pairs by someone other than
/// the run's owner (a skip).
pub async fn lock_task(conn: &mut AnyConnection, dialect: Dialect, id: i64) -> StoreResult<()> {
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT id FROM tasks WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(conn).await?;
    }
    Ok(())
}

/// Writes a pair's new state (not its process group: see `set_pair_pgid`) and its status
/// event in one transaction, for the run's owner: refused when the run is no longer
/// `fence`'s. With `only_from`, the pair changes
/// only from one of those statuses; false when it had left them (a skip came first).
pub async fn save_pair(db: &Db, fence: &Fence, p: &PairRow, only_from: &[PairStatus]) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    lock_run(&mut tx, db.dialect, fence).await?;
    let condition = if only_from.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (0..only_from.len()).map(|i| format!("${}", i + 10)).collect();
        format!(" AND status IN ({})", marks.join(", "))
    };
    let sql = format!(
        "UPDATE task_pairs SET status = $1, tries = $2, exit_code = $3, started_at = $4, finished_at = $5,
            message = $6, kill_confirmed = $7
         WHERE id = $8 AND attempt = $9{condition}"
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(p.status.as_str())
        .bind(p.tries)
        .bind(p.exit_code)
        .bind(p.started_at)
        .bind(p.finished_at)
        .bind(&p.message)
        .bind(p.kill_confirmed)
        .bind(p.id)
        .bind(fence.attempt);
    for s in only_from {
        q = q.bind(s.as_str());
    }
    if q.execute(&mut *tx).await?.rows_affected() != 1 {
        return Ok(false);
    }
    let body = pair_event_body(p);
    insert_pair_event(&mut tx, p.task_id, p.attempt, p.step_index, &p.host, &body).await?;
    tx.commit().await?;
    Ok(true)
}

/// A pair's change of state as its status event says it.
fn pair_event_body(p: &PairRow) -> String {
    serde_json::json!({
        "status": p.status, "exit_code": p.exit_code, "tries": p.tries, "message": p.message,
        "kill_confirmed": p.kill_confirmed.map(|k| k != 0),
    })
    .to_string()
}

/// Records the process group a running pair's step reported, for whoever must kill it
/// later (after a lost connection, or when another instance takes the run over).
pub async fn set_pair_pgid(
    db: &Db,
    fence: &Fence,
    pair_id: i64,
    pgid: Option<i64>,
    boot: Option<&str>,
    start: Option<i64>,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    lock_run(&mut tx, db.dialect, fence).await?;
    sqlx::query("UPDATE task_pairs SET pgid = $1, pgid_boot = $2, pgid_start = $3 WHERE id = $4 AND attempt = $5")
        .bind(pgid)
        .bind(boot)
        .bind(start)
        .bind(pair_id)
        .bind(fence.attempt)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A claim on a pair's kill older than this is taken again (its instance died).
pub const REAP_CLAIM_MS: i64 = 300_000;

/// Claims the kills still to do for attempt `attempt` of task `task_id` (after taking the
/// run over): the pairs claimed, which nobody else will kill meanwhile.
pub async fn claim_run_reaps(db: &Db, task_id: i64, attempt: i64) -> StoreResult<Vec<PairRow>> {
    let sql = format!(
        "UPDATE task_pairs SET reap = $1 WHERE task_id = $2 AND attempt = $3 AND reap = 1 RETURNING {PAIR_COLUMNS}"
    );
    let mut tx = db.begin_write().await?;
    let claimed =
        sqlx::query_as(AssertSqlSafe(sql)).bind(now_ms()).bind(task_id).bind(attempt).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// Claims up to `limit` kills left to do: never claimed though taken over before
/// `taken_before` (the taker had time to claim them), or claimed more than
/// [`REAP_CLAIM_MS`] ago by an instance that did not finish.
pub async fn claim_left_reaps(db: &Db, taken_before: i64, limit: i64) -> StoreResult<Vec<PairRow>> {
    let now = now_ms();
    let left = "((reap = 1 AND finished_at < $4) OR (reap > 1 AND reap < $2))";
    let sql = format!(
        "UPDATE task_pairs SET reap = $1
         WHERE id IN (SELECT id FROM task_pairs WHERE reap <> 0 AND {left} ORDER BY id LIMIT $3) AND {left}
         RETURNING {PAIR_COLUMNS}"
    );
    let mut tx = db.begin_write().await?;
    let claimed = sqlx::query_as(AssertSqlSafe(sql))
        .bind(now)
        .bind(now - REAP_CLAIM_MS)
        .bind(limit)
        .bind(taken_before)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What was done about the processes of a pair whose run was taken over (its message,
/// `kill_confirmed`, and a line for its log), written by whoever holds the claim on its
/// kill (`p.reap` as claimed; nothing is written once another took the claim over); the
/// claim ends. The task's row is locked first, as in every change of a run.
pub async fn record_reaped_pair(db: &Db, p: &PairRow, line: &str) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    lock_task(&mut tx, db.dialect, p.task_id).await?;
    let done =
        sqlx::query("UPDATE task_pairs SET message = $1, kill_confirmed = $2, reap = 0 WHERE id = $3 AND reap = $4")
            .bind(&p.message)
            .bind(p.kill_confirmed)
            .bind(p.id)
            .bind(p.reap)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() != 1 {
        return Ok(());
    }
    let log = NewEvent {
        task_id: p.task_id,
        attempt: p.attempt,
        step_index: p.step_index,
        host: &p.host,
        kind: "log",
        stream: "system",
        seq: 0,
        body: line,
    };
    insert_events(&mut tx, &[log]).await?;
    insert_pair_event(&mut tx, p.task_id, p.attempt, p.step_index, &p.host, &pair_event_body(p)).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a pair to `to` if it is in one of `from`; true when it changed.
pub async fn set_pair_status_if(
    conn: &mut AnyConnection,
    id: i64,
    from: &[PairStatus],
    to: PairStatus,
    message: &str,
) -> StoreResult<bool> {
    let marks: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "UPDATE task_pairs SET status = $1, message = $2, finished_at = COALESCE(finished_at, $3)
         WHERE id = ${} AND status IN ({})",
        from.len() + 4,
        marks.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(to.as_str()).bind(message).bind(now_ms());
    for f in from {
        q = q.bind(f.as_str());
    }
    Ok(q.bind(id).execute(conn).await?.rows_affected() == 1)
}

pub async fn release_pair(conn: &mut AnyConnection, id: i64) -> StoreResult<()> {
    sqlx::query("UPDATE task_pairs SET released = 1 WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

pub struct NewEvent<'a> {
    pub task_id: i64,
    pub attempt: i64,
    pub step_index: i64,
    pub host: &'a str,
    /// `log` or `status`.
    pub kind: &'a str,
    /// `stdout`, `stderr` or `system`.
    pub stream: &'a str,
    pub seq: i64,
    pub body: &'a str,
}

/// Appends events, numbering each task's events in commit order: the numbers come from
/// the task's counter, whose row stays locked until this transaction ends, so no event
/// can become visible after a later-numbered one (see migration 0010).
pub async fn insert_events(conn: &mut AnyConnection, events: &[NewEvent<'_>]) -> StoreResult<()> {
    insert_events_as(conn, None, events).await
}

/// [`insert_events`] for a run's owner: refused (nothing written) when the run is no
/// longer `fence`'s. Every event must be of the fence's task.
pub async fn insert_run_events(conn: &mut AnyConnection, fence: &Fence, events: &[NewEvent<'_>]) -> StoreResult<()> {
    insert_events_as(conn, Some(fence), events).await
}

async fn insert_events_as(conn: &mut AnyConnection, fence: Option<&Fence>, events: &[NewEvent<'_>]) -> StoreResult<()> {
    let now = now_ms();
    let mut start = 0;
    while start < events.len() {
        let task_id = events[start].task_id;
        let len = events[start..].iter().take_while(|e| e.task_id == task_id).count();
        let group = &events[start..start + len];
        let last: i64 = match fence {
            None => {
                sqlx::query_scalar("UPDATE tasks SET event_seq = event_seq + $1 WHERE id = $2 RETURNING event_seq")
                    .bind(len as i64)
                    .bind(task_id)
                    .fetch_one(&mut *conn)
                    .await?
            }
            Some(f) => {
                let sql = format!(
                    "UPDATE tasks SET event_seq = event_seq + $1 WHERE {} RETURNING event_seq",
                    fence_clause(2)
                );
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(len as i64)
                    .bind(f.attempt)
                    .bind(&*f.owner)
                    .bind(task_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .filter(|_| task_id == f.task_id)
                    .ok_or_else(|| f.refused())?
            }
        };
        let first = last - len as i64 + 1;
        let numbered: Vec<(&NewEvent, i64)> = group.iter().zip(first..).collect();
        insert_numbered_events(conn, &numbered, now).await?;
        start += len;
    }
    Ok(())
}

/// Records a pair's change of state (`body`: its JSON) on the task's event stream.
pub async fn insert_pair_event(
    conn: &mut AnyConnection,
    task_id: i64,
    attempt: i64,
    step_index: i64,
    host: &str,
    body: &str,
) -> StoreResult<()> {
    let event = NewEvent { task_id, attempt, step_index, host, kind: "status", stream: "system", seq: 0, body };
    insert_events(conn, &[event]).await
}

/// Events whose task sequence numbers were taken already (`tasks.event_seq`).
pub async fn insert_numbered_events(
    conn: &mut AnyConnection,
    events: &[(&NewEvent<'_>, i64)],
    now: i64,
) -> StoreResult<()> {
    for chunk in events.chunks(super::ROWS_PER_INSERT) {
        let sql = super::multi_row_insert(
            conn,
            "INSERT INTO task_events (task_id, attempt, step_index, host, kind, stream, seq, body, task_seq, at) VALUES",
            chunk.len(),
            10,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (e, task_seq) in chunk {
            q = q
                .bind(e.task_id)
                .bind(e.attempt)
                .bind(e.step_index)
                .bind(e.host.to_string())
                .bind(e.kind.to_string())
                .bind(e.stream.to_string())
                .bind(e.seq)
                .bind(e.body.to_string())
                .bind(*task_seq)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The body of the status event of a task's run.
pub fn task_status_body(status: TaskStatus, attempt: i64) -> String {
    serde_json::json!({"task_status": status.as_str(), "attempt": attempt}).to_string()
}

/// Records a change of the task's own status on its event stream (step -1).
pub async fn insert_task_event(
    conn: &mut AnyConnection,
    task_id: i64,
    attempt: i64,
    status: TaskStatus,
) -> StoreResult<()> {
    let body = task_status_body(status, attempt);
    let event =
        NewEvent { task_id, attempt, step_index: -1, host: "", kind: "status", stream: "system", seq: 0, body: &body };
    insert_events(conn, &[event]).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// The event's number within its task (`task_seq`): gap-free, in commit order.
    pub id: i64,
    pub task_id: i64,
    pub attempt: i64,
    pub step_index: i64,
    pub host: String,
    pub kind: String,
    pub stream: String,
    pub seq: i64,
    pub body: String,
    pub at: i64,
}

#[derive(Debug, Default)]
pub struct EventFilter {
    pub after: i64,
    /// Only events numbered below this one.
    pub before: Option<i64>,
    /// The last `limit` events (still answered in order) rather than the first.
    pub newest: bool,
    pub kind: Option<&'static str>,
    pub step: Option<i64>,
    pub host: Option<String>,
    pub attempt: Option<i64>,
    /// Every state event, but log lines of this (step, host) only.
    pub logs_of: Option<(i64, String)>,
    pub limit: i64,
}

/// The number of a task's latest committed event (0 when it has none): every event
/// numbered up to it is visible, none after it yet.
pub async fn last_event_id(db: &Db, task_id: i64) -> StoreResult<i64> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT event_seq FROM tasks WHERE id = $1").bind(task_id).fetch_optional(&db.pool).await?;
    Ok(id.unwrap_or(0))
}

/// Events of a task numbered after `after`, in order.
pub async fn events(db: &Db, task_id: i64, f: &EventFilter) -> StoreResult<Vec<EventRow>> {
    let mut clauses = vec!["task_id = $1".to_string(), "task_seq > $2".to_string()];
    let mut n = 2;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.before.is_some() {
        clauses.push(format!("task_seq < {}", next()));
    }
    if f.kind.is_some() {
        clauses.push(format!("kind = {}", next()));
    }
    if f.step.is_some() {
        clauses.push(format!("step_index = {}", next()));
    }
    if f.host.is_some() {
        clauses.push(format!("host = {}", next()));
    }
    if f.attempt.is_some() {
        clauses.push(format!("attempt = {}", next()));
    }
    if f.logs_of.is_some() {
        let (step, host) = (next(), next());
        clauses.push(format!("(kind <> 'log' OR (step_index = {step} AND host = {host}))"));
    }
    let limit = next();
    let order = if f.newest { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT task_seq AS id, task_id, attempt, step_index, host, kind, stream, seq, body, at FROM task_events
         WHERE {} ORDER BY task_seq {order} LIMIT {limit}",
        clauses.join(" AND ")
    );
    let mut q = sqlx::query_as::<_, EventRow>(AssertSqlSafe(sql)).bind(task_id).bind(f.after);
    if let Some(b) = f.before {
        q = q.bind(b);
    }
    if let Some(k) = f.kind {
        q = q.bind(k);
    }
    if let Some(s) = f.step {
        q = q.bind(s);
    }
    if let Some(h) = &f.host {
        q = q.bind(h.clone());
    }
    if let Some(a) = f.attempt {
        q = q.bind(a);
    }
    if let Some((step, host)) = &f.logs_of {
        q = q.bind(*step).bind(host.clone());
    }
    let mut rows = q.bind(f.limit).fetch_all(&db.pool).await?;
    if f.newest {
        rows.reverse();
    }
    Ok(rows)
}

/// The latest attempt with log lines of the task (of one step and host when given).
pub async fn latest_log_attempt(db: &Db, task_id: i64, step: Option<i64>, host: Option<&str>) -> StoreResult<i64> {
    let attempt: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(attempt) FROM task_events WHERE task_id = $1 AND kind = 'log'
           AND ($2 IS NULL OR step_index = $2) AND ($3 IS NULL OR host = $3)",
    )
    .bind(task_id)
    .bind(step)
    .bind(host)
    .fetch_one(&db.pool)
    .await?;
    Ok(attempt.unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    /// The log INSERTs' fast path on SQLite (anonymous parameters) is chosen by the
    /// backend's name: a rename would make it slow again without failing anything else.
    #[tokio::test]
    async fn a_sqlite_connection_is_known_by_the_name_the_fast_insert_looks_for() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let conn = db.pool.acquire().await.unwrap();
        assert_eq!(conn.backend_name(), <sqlx::Sqlite as sqlx::Database>::NAME);
    }

    #[tokio::test]
    async fn the_latest_attempt_of_each_pair_is_found_by_an_index_seek() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let explain = format!("EXPLAIN QUERY PLAN {}", latest_pairs_sql());
        let rows = sqlx::query(AssertSqlSafe(explain))
            .bind(1i64)
            .bind(0i64)
            .bind("h1")
            .bind(10i64)
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        // Not `(task_id=?)` alone: that scans every pair of the task for each pair.
        let seek = "INDEX task_pairs_latest (task_id=? AND step_index=? AND host=? AND attempt>?)";
        assert!(plan.iter().any(|d| d.contains(seek)), "{plan:#?}");
        let walk = "INDEX task_pairs_latest (task_id=? AND (step_index,host)>(?,?))";
        assert!(plan.iter().any(|d| d.contains(walk)), "{plan:#?}");
        // A page is walked in the index's order, not sorted out of all the task's pairs.
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:#?}");
    }
}
