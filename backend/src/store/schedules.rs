//! Recurring schedules and their fires.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{now_ms, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: i64,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub template_id: i64,
    /// The arguments as JSON, encrypted as a whole (they may hold secrets).
    pub args_enc: String,
    pub hosts: String,
    pub schedule: String,
    pub enabled: i64,
    pub missed_policy: String,
    pub owner: String,
    pub last_fire_at: Option<i64>,
    /// Fires up to this time are accounted for; the catch-up starts after it.
    pub checked_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, cron, timezone, template_id, args_enc, hosts, schedule, enabled, missed_policy,
    owner, last_fire_at, checked_until, created_at, updated_at";

pub async fn save(conn: &mut AnyConnection, r: &ScheduleRow) -> StoreResult<i64> {
    let now = now_ms();
    let conflict = |e: sqlx::Error| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(
            api_types::Message::new("a schedule named {name} already exists").arg("name", format!("{:?}", r.name)),
        ),
        other => other,
    };
    if r.id == 0 {
        return sqlx::query_scalar(
            "INSERT INTO schedules (name, cron, timezone, template_id, args_enc, hosts, schedule, enabled, missed_policy,
                owner, checked_until, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11) RETURNING id",
        )
        .bind(&r.name)
        .bind(&r.cron)
        .bind(&r.timezone)
        .bind(r.template_id)
        .bind(&r.args_enc)
        .bind(&r.hosts)
        .bind(&r.schedule)
        .bind(r.enabled)
        .bind(&r.missed_policy)
        .bind(&r.owner)
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(conflict);
    }
    // Saving a schedule restarts its count: fires before now are not "missed".
    let done = sqlx::query(
        "UPDATE schedules SET name = $1, cron = $2, timezone = $3, template_id = $4, args_enc = $5, hosts = $6,
            schedule = $7, enabled = $8, missed_policy = $9, owner = $10, checked_until = $11, updated_at = $11
         WHERE id = $12",
    )
    .bind(&r.name)
    .bind(&r.cron)
    .bind(&r.timezone)
    .bind(r.template_id)
    .bind(&r.args_enc)
    .bind(&r.hosts)
    .bind(&r.schedule)
    .bind(r.enabled)
    .bind(&r.missed_policy)
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

pub async fn get(db: &Db, id: i64) -> StoreResult<ScheduleRow> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list(db: &Db) -> StoreResult<Vec<ScheduleRow>> {
    let sql = format!("SELECT {COLUMNS} FROM schedules ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM schedule_fires WHERE schedule_id = $1").bind(id).execute(&mut *conn).await?;
    let done = sqlx::query("DELETE FROM schedules WHERE id = $1").bind(id).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Records a fire; false when it was already recorded (by this or another instance).
pub async fn record_fire(
    conn: &mut AnyConnection,
    schedule_id: i64,
    scheduled_for: i64,
    outcome: &str,
    task_id: Option<i64>,
    message: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO schedule_fires (schedule_id, scheduled_for, fired_at, outcome, task_id, message)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule_id, scheduled_for) DO NOTHING",
    )
    .bind(schedule_id)
    .bind(scheduled_for)
    .bind(now_ms())
    .bind(outcome)
    .bind(task_id)
    .bind(message)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        sqlx::query(
            "UPDATE schedules SET last_fire_at = $1 WHERE id = $2 AND (last_fire_at IS NULL OR last_fire_at < $1)",
        )
        .bind(scheduled_for)
        .bind(schedule_id)
        .execute(conn)
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

pub async fn set_fire_result(
    db: &Db,
    schedule_id: i64,
    scheduled_for: i64,
    outcome: &str,
    task_id: Option<i64>,
    message: &str,
) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE schedule_fires SET outcome = $1, task_id = $2, message = $3 WHERE schedule_id = $4 AND scheduled_for = $5")
        .bind(outcome)
        .bind(task_id)
        .bind(message)
        .bind(schedule_id)
        .bind(scheduled_for)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Marks fires up to `until` as accounted for.
pub async fn set_checked_until(db: &Db, id: i64, until: i64) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE schedules SET checked_until = $1 WHERE id = $2 AND checked_until < $1")
        .bind(until)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The recorded fire times of a schedule within (from, until].
pub async fn recorded_between(db: &Db, id: i64, from: i64, until: i64) -> StoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT scheduled_for FROM schedule_fires WHERE schedule_id = $1 AND scheduled_for > $2 AND scheduled_for <= $3",
    )
    .bind(id)
    .bind(from)
    .bind(until)
    .fetch_all(&db.pool)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FireRow {
    pub scheduled_for: i64,
    pub fired_at: i64,
    pub outcome: String,
    pub task_id: Option<i64>,
    pub message: String,
}

pub async fn fires(db: &Db, schedule_id: i64, limit: i64) -> StoreResult<Vec<FireRow>> {
    Ok(sqlx::query_as(
        "SELECT scheduled_for, fired_at, outcome, task_id, message FROM schedule_fires WHERE schedule_id = $1
         ORDER BY scheduled_for DESC LIMIT $2",
    )
    .bind(schedule_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}
