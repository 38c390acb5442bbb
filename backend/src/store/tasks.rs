//! Tasks and their approval records.
//!
//! Status changes are compare-and-set (`WHERE status = $expected`), so two people acting
//! on one task at once cannot both win: the loser sees zero rows changed and gets a 409.

use api_types::TaskStatus;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{now_ms, Db, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    pub template_name: String,
    pub template_snapshot: String,
    /// JSON map; values of secret parameters are encrypted (`v1:…`).
    pub args: String,
    pub hosts: String,
    pub submitter: String,
    pub executor: String,
    pub details: String,
    pub associated_users: String,
    pub schedule: String,
    pub exec_time: i64,
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    pub concurrency: i64,
    pub source: String,
    pub approval_id: Option<i64>,
    pub approval_deadline: Option<i64>,
    /// When the dispatcher starts it (once `ready`).
    pub due_at: Option<i64>,
    /// Number of the latest run attempt (0 before the first).
    pub attempt: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(super) const TASK_COLUMNS: &str = "id, name, template_id, template_name, template_snapshot, args, hosts, submitter,
    executor, details, associated_users, schedule, exec_time, status, concurrency, source, approval_id,
    approval_deadline, due_at, attempt, started_at, finished_at, created_at, updated_at";

/// Inserts a task inside the caller's transaction and returns its id.
pub async fn insert(conn: &mut AnyConnection, t: &TaskRow) -> StoreResult<i64> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "INSERT INTO tasks (name, template_id, template_name, template_snapshot, args, hosts, submitter, executor,
            details, associated_users, schedule, exec_time, status, concurrency, source, approval_id,
            approval_deadline, created_at, updated_at, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, $16, $17, $17, $18)
         RETURNING id",
    )
    .bind(&t.name)
    .bind(t.template_id)
    .bind(&t.template_name)
    .bind(&t.template_snapshot)
    .bind(&t.args)
    .bind(&t.hosts)
    .bind(&t.submitter)
    .bind(&t.executor)
    .bind(&t.details)
    .bind(&t.associated_users)
    .bind(&t.schedule)
    .bind(t.exec_time)
    .bind(t.status.as_str())
    .bind(t.concurrency)
    .bind(&t.source)
    .bind(t.approval_deadline)
    .bind(now)
    .bind(t.due_at)
    .fetch_one(conn)
    .await?)
}

/// The task as this transaction sees it.
pub async fn get_in(conn: &mut AnyConnection, id: i64) -> StoreResult<TaskRow> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<TaskRow> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

/// Moves a task from `from` to `to`, optionally setting its current approval, with the
/// status event on its stream. Returns false when the task was no longer in `from`.
pub async fn transition(
    conn: &mut AnyConnection,
    id: i64,
    from: TaskStatus,
    to: TaskStatus,
    approval_id: Option<i64>,
) -> StoreResult<bool> {
    let attempt: Option<i64> = sqlx::query_scalar(
        "UPDATE tasks SET status = $1, approval_id = COALESCE($2, approval_id), approval_deadline = NULL,
            updated_at = $3
         WHERE id = $4 AND status = $5 RETURNING attempt",
    )
    .bind(to.as_str())
    .bind(approval_id)
    .bind(now_ms())
    .bind(id)
    .bind(from.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(attempt) = attempt else { return Ok(false) };
    super::runs::insert_task_event(conn, id, attempt, to).await?;
    Ok(true)
}

/// Approves (or rejects) task `id` only if nobody changed it since it was read at
/// `read_updated_at`: a decision is about the contents the decider saw.
pub async fn decide(
    conn: &mut AnyConnection,
    id: i64,
    to: TaskStatus,
    approval_id: i64,
    read_updated_at: i64,
) -> StoreResult<bool> {
    let attempt: Option<i64> = sqlx::query_scalar(
        "UPDATE tasks SET status = $1, approval_id = $2, approval_deadline = NULL,
            updated_at = CASE WHEN $3 > updated_at THEN $3 ELSE updated_at + 1 END
         WHERE id = $4 AND status = 'new' AND updated_at = $5 RETURNING attempt",
    )
    .bind(to.as_str())
    .bind(approval_id)
    .bind(now_ms())
    .bind(id)
    .bind(read_updated_at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(attempt) = attempt else { return Ok(false) };
    super::runs::insert_task_event(conn, id, attempt, to).await?;
    Ok(true)
}

/// Rewrites what a not-yet-started task will do. The approval is dropped: it was given
/// for the old contents. Returns false when the task left `expected_status` meanwhile.
pub async fn update_contents(conn: &mut AnyConnection, t: &TaskRow, expected_status: TaskStatus) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tasks SET name = $1, args = $2, hosts = $3, exec_time = $4, details = $5, concurrency = $6,
            status = $7, approval_id = $8, approval_deadline = $9, due_at = $13,
            updated_at = CASE WHEN $10 > updated_at THEN $10 ELSE updated_at + 1 END
         WHERE id = $11 AND status = $12",
    )
    .bind(&t.name)
    .bind(&t.args)
    .bind(&t.hosts)
    .bind(t.exec_time)
    .bind(&t.details)
    .bind(t.concurrency)
    .bind(t.status.as_str())
    .bind(t.approval_id)
    .bind(t.approval_deadline)
    .bind(now_ms())
    .bind(t.id)
    .bind(expected_status.as_str())
    .bind(t.due_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that `username` changed task `id` (once per person).
pub async fn add_editor(conn: &mut AnyConnection, id: i64, username: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO task_editors (task_id, username, first_edit_at) VALUES ($1, $2, $3)
         ON CONFLICT (task_id, username) DO NOTHING",
    )
    .bind(id)
    .bind(username)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Everyone who changed task `id` since it was submitted, in the order they first did.
pub async fn editors(conn: &mut AnyConnection, id: i64) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT username FROM task_editors WHERE task_id = $1 ORDER BY first_edit_at, username")
        .bind(id)
        .fetch_all(conn)
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: i64,
    pub task_id: i64,
    pub decision: String,
    pub actor: String,
    pub comment: String,
    pub digest: String,
    pub at: i64,
}

pub async fn insert_approval(
    conn: &mut AnyConnection,
    task_id: i64,
    decision: &str,
    actor: &str,
    comment: &str,
    digest: &str,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO task_approvals (task_id, decision, actor, comment, digest, at) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id",
    )
    .bind(task_id)
    .bind(decision)
    .bind(actor)
    .bind(comment)
    .bind(digest)
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

pub async fn get_approval(db: &Db, id: i64) -> StoreResult<ApprovalRow> {
    Ok(sqlx::query_as("SELECT id, task_id, decision, actor, comment, digest, at FROM task_approvals WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?)
}

#[derive(Debug, Default)]
pub struct TaskFilter {
    pub statuses: Vec<String>,
    pub template_id: Option<i64>,
    pub submitter: Option<String>,
    /// Case-insensitive text in the name, details or template name, or the exact id.
    pub text: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskSummaryRow {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    pub template_name: String,
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    pub schedule: String,
    pub submitter: String,
    pub exec_time: i64,
    pub created_at: i64,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// One page of tasks, newest first, and the number matching the filter.
pub async fn list(db: &Db, f: &TaskFilter) -> StoreResult<(Vec<TaskSummaryRow>, i64)> {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if !f.statuses.is_empty() {
        let marks: Vec<String> = f.statuses.iter().map(|s| next(Bind::Text(s.clone()), &mut binds)).collect();
        clauses.push(format!("status IN ({})", marks.join(", ")));
    }
    if let Some(t) = f.template_id {
        clauses.push(format!("template_id = {}", next(Bind::Int(t), &mut binds)));
    }
    if let Some(s) = &f.submitter {
        clauses.push(format!("submitter = {}", next(Bind::Text(s.clone()), &mut binds)));
    }
    if let Some(q) = f.text.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let like = next(Bind::Text(format!("%{escaped}%")), &mut binds);
        let by_id = match q.parse::<i64>() {
            Ok(id) => format!(" OR id = {}", next(Bind::Int(id), &mut binds)),
            Err(_) => String::new(),
        };
        clauses.push(format!(
            "(LOWER(name) LIKE {like} ESCAPE '\\' OR LOWER(details) LIKE {like} ESCAPE '\\' \
             OR LOWER(template_name) LIKE {like} ESCAPE '\\'{by_id})"
        ));
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };

    let count_sql = format!("SELECT COUNT(*) FROM tasks {where_sql}");
    let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
    for b in &binds {
        count = match b {
            Bind::Text(s) => count.bind(s.clone()),
            Bind::Int(i) => count.bind(*i),
        };
    }
    let total = count.fetch_one(&db.pool).await?;

    let limit = next(Bind::Int(f.limit), &mut binds);
    let offset = next(Bind::Int(f.offset), &mut binds);
    let page_sql = format!(
        "SELECT id, name, template_id, template_name, status, schedule, submitter, exec_time, created_at
         FROM tasks {where_sql} ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    );
    let mut page = sqlx::query_as::<_, TaskSummaryRow>(AssertSqlSafe(page_sql));
    for b in binds {
        page = match b {
            Bind::Text(s) => page.bind(s),
            Bind::Int(i) => page.bind(i),
        };
    }
    Ok((page.fetch_all(&db.pool).await?, total))
}

/// Tasks still waiting for approval whose deadline has passed.
pub async fn overdue_approvals(db: &Db, now: i64) -> StoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tasks WHERE status = 'new' AND approval_deadline IS NOT NULL AND approval_deadline <= $1
         ORDER BY approval_deadline",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?)
}

/// The earliest approval deadline still ahead, so the sweeper can sleep until then.
pub async fn next_approval_deadline(db: &Db) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT MIN(approval_deadline) FROM tasks WHERE status = 'new'").fetch_one(&db.pool).await?)
}

/// Number of tasks per status (statuses with none are left out).
pub async fn count_by_status(db: &Db) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetch_all(&db.pool).await?)
}

/// Tasks changed at or after `since` (ms), the oldest change first, at most `limit`:
/// `(id, status, updated_at)`.
pub async fn changed_since(db: &Db, since: i64, limit: i64) -> StoreResult<Vec<(i64, TaskStatus, i64)>> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, status, updated_at FROM tasks WHERE updated_at >= $1 ORDER BY updated_at, id LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().filter_map(|(id, s, at)| Some((id, TaskStatus::parse(&s)?, at))).collect())
}

/// The latest change of any task (ms; 0 when there is none).
pub async fn last_change(db: &Db) -> StoreResult<i64> {
    let at: Option<i64> = sqlx::query_scalar("SELECT MAX(updated_at) FROM tasks").fetch_one(&db.pool).await?;
    Ok(at.unwrap_or(0))
}
