//! Small tables: CODO csrf keys and server settings changed at run time.

use super::{Db, StoreResult};

pub async fn insert_csrf_key(db: &Db, key: &str, user_id: i64, expires_at: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO codo_csrf_keys (csrf_key, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(user_id)
        .bind(expires_at)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Uses up a csrf key: true when it existed for this user and had not expired.
/// Expired keys are swept on the way.
pub async fn consume_csrf_key(db: &Db, key: &str, user_id: i64, now: i64) -> StoreResult<bool> {
    sqlx::query("DELETE FROM codo_csrf_keys WHERE expires_at < $1").bind(now).execute(&db.pool).await?;
    let done = sqlx::query("DELETE FROM codo_csrf_keys WHERE csrf_key = $1 AND user_id = $2")
        .bind(key)
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_setting(db: &Db, name: &str) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn put_setting(conn: &mut sqlx::AnyConnection, name: &str, value: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO server_settings (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}
