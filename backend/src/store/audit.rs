//! The audit trail.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Db, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub detail: String,
    pub remote_addr: String,
}

/// Writes events inside the caller's transaction, up to [`super::ROWS_PER_INSERT`] a
/// statement.
pub async fn insert_many(conn: &mut AnyConnection, rows: &[AuditRow]) -> StoreResult<()> {
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        let sql = super::multi_row_insert(
            conn,
            "INSERT INTO audit_events (at, actor, action, object_type, object_id, detail, remote_addr) VALUES",
            chunk.len(),
            7,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.at)
                .bind(e.actor.clone())
                .bind(e.action.clone())
                .bind(e.object_type.clone())
                .bind(e.object_id.clone())
                .bind(e.detail.clone())
                .bind(e.remote_addr.clone());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes one event inside the caller's transaction, so that a change and its record
/// land together or not at all.
pub async fn insert(conn: &mut AnyConnection, e: &AuditRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, object_type, object_id, detail, remote_addr)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.object_type)
    .bind(&e.object_id)
    .bind(&e.detail)
    .bind(&e.remote_addr)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of events, newest first, and the number matching the filter.
pub async fn list(db: &Db, f: &AuditFilter) -> StoreResult<(Vec<AuditRow>, i64)> {
    let mut clauses = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    for (column, value) in
        [("actor", &f.actor), ("action", &f.action), ("object_type", &f.object_type), ("object_id", &f.object_id)]
    {
        if let Some(v) = value {
            binds.push(v.clone());
            clauses.push(format!("{column} = ${}", binds.len()));
        }
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let mut count =
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM audit_events {where_sql}")));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total = count.fetch_one(&db.pool).await?;
    let n = binds.len();
    let sql = format!(
        "SELECT id, at, actor, action, object_type, object_id, detail, remote_addr FROM audit_events {where_sql}
         ORDER BY id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut page = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql));
    for b in binds {
        page = page.bind(b);
    }
    Ok((page.bind(f.limit).bind(f.offset).fetch_all(&db.pool).await?, total))
}
