//! GitLab rules and the mail outbox.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{now_ms, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub project: String,
    pub tag_pattern: String,
    pub template_id: i64,
    pub args: String,
    pub hosts: String,
    pub schedule: String,
    pub secret_digest: String,
    pub enabled: i64,
    pub owner: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const RULE_COLUMNS: &str = "id, name, project, tag_pattern, template_id, args, hosts, schedule, secret_digest, enabled,
    owner, created_at, updated_at";

pub async fn save_rule(conn: &mut AnyConnection, r: &RuleRow) -> StoreResult<i64> {
    let now = now_ms();
    let conflict = |e: sqlx::Error| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(
            api_types::Message::new("a GitLab rule named {name} already exists").arg("name", format!("{:?}", r.name)),
        ),
        other => other,
    };
    if r.id == 0 {
        return sqlx::query_scalar(
            "INSERT INTO gitlab_rules (name, project, tag_pattern, template_id, args, hosts, schedule, secret_digest,
                enabled, owner, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(&r.name)
        .bind(&r.project)
        .bind(&r.tag_pattern)
        .bind(r.template_id)
        .bind(&r.args)
        .bind(&r.hosts)
        .bind(&r.schedule)
        .bind(&r.secret_digest)
        .bind(r.enabled)
        .bind(&r.owner)
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(conflict);
    }
    let done = sqlx::query(
        "UPDATE gitlab_rules SET name = $1, project = $2, tag_pattern = $3, template_id = $4, args = $5, hosts = $6,
            schedule = $7, secret_digest = $8, enabled = $9, owner = $10, updated_at = $11
         WHERE id = $12",
    )
    .bind(&r.name)
    .bind(&r.project)
    .bind(&r.tag_pattern)
    .bind(r.template_id)
    .bind(&r.args)
    .bind(&r.hosts)
    .bind(&r.schedule)
    .bind(&r.secret_digest)
    .bind(r.enabled)
    .bind(&r.owner)
    .bind(now)
    .bind(r.id)
    .execute(conn)
    .await
    .map_err(conflict)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(r.id)
}

pub async fn get_rule(db: &Db, id: i64) -> StoreResult<RuleRow> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM gitlab_rules WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list_rules(db: &Db) -> StoreResult<Vec<RuleRow>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM gitlab_rules ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

/// The enabled rules of one project, in name order.
pub async fn project_rules(db: &Db, project: &str) -> StoreResult<Vec<RuleRow>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM gitlab_rules WHERE project = $1 AND enabled = 1 ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(project).fetch_all(&db.pool).await?)
}

pub async fn delete_rule(conn: &mut AnyConnection, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM gitlab_rules WHERE id = $1").bind(id).execute(conn).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailRow {
    pub id: i64,
    pub kind: String,
    pub task_id: Option<i64>,
    /// JSON array of addresses.
    pub recipients: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const MAIL_COLUMNS: &str =
    "id, kind, task_id, recipients, subject, body, status, attempts, next_attempt_at, last_error, created_at, sent_at";

pub async fn enqueue_mail(
    conn: &mut AnyConnection,
    kind: &str,
    task_id: Option<i64>,
    recipients: &str,
    subject: &str,
    body: &str,
) -> StoreResult<i64> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "INSERT INTO mail_outbox (kind, task_id, recipients, subject, body, status, attempts, next_attempt_at,
            last_error, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, '', $6) RETURNING id",
    )
    .bind(kind)
    .bind(task_id)
    .bind(recipients)
    .bind(subject)
    .bind(body)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Pending mail due by `now`, oldest first.
pub async fn due_mail(db: &Db, now: i64, limit: i64) -> StoreResult<Vec<MailRow>> {
    let sql = format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $2"
    );
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(&db.pool).await?)
}

/// The earliest time pending mail is due.
pub async fn next_mail_due(db: &Db) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM mail_outbox WHERE status = 'pending'")
        .fetch_one(&db.pool)
        .await?)
}

/// Takes a pending message for one send attempt: counts the attempt and moves its next
/// attempt to `lease_until` (past the longest send), so that no other instance sends it
/// meanwhile; after a crash it is tried again then.
pub async fn claim_mail(db: &Db, id: i64, seen_attempts: i64, lease_until: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $1
         WHERE id = $2 AND status = 'pending' AND attempts = $3",
    )
    .bind(lease_until)
    .bind(id)
    .bind(seen_attempts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Records the outcome of attempt `attempt` (only while that attempt is the latest).
pub async fn mail_sent(db: &Db, id: i64, attempt: i64) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sent', sent_at = $1, last_error = '' WHERE id = $2 AND attempts = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(attempt)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Records failed attempt `attempt`: retried at `retry_at`, or failed for good with `give_up`.
pub async fn mail_failed(db: &Db, id: i64, attempt: i64, error: &str, retry_at: i64, give_up: bool) -> StoreResult<()> {
    let status = if give_up { "failed" } else { "pending" };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE mail_outbox SET status = $1, last_error = $2, next_attempt_at = $3
         WHERE id = $4 AND attempts = $5 AND status = 'pending'",
    )
    .bind(status)
    .bind(error)
    .bind(retry_at)
    .bind(id)
    .bind(attempt)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

pub async fn list_mail(db: &Db, task_id: Option<i64>, limit: i64) -> StoreResult<Vec<MailRow>> {
    let sql =
        format!("SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE ($1 = 0 OR task_id = $1) ORDER BY id DESC LIMIT $2");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(task_id.unwrap_or(0)).bind(limit).fetch_all(&db.pool).await?)
}
