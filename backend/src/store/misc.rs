//! Small tables: CODO csrf keys and server settings changed at run time.

use super::{Db, StoreResult};

/// Stores a new csrf key and drops the user's oldest keys beyond `keep`, so that nobody
/// can fill the table by asking for keys in a loop.
pub async fn insert_csrf_key(db: &Db, key: &str, user_id: i64, expires_at: i64, keep: i64) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO codo_csrf_keys (csrf_key, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(user_id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM codo_csrf_keys WHERE user_id = $1 AND csrf_key NOT IN
           (SELECT csrf_key FROM codo_csrf_keys WHERE user_id = $1 ORDER BY expires_at DESC, csrf_key DESC LIMIT $2)",
    )
    .bind(user_id)
    .bind(keep)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Uses up a csrf key: true when it existed for this user and had not expired.
pub async fn consume_csrf_key(db: &Db, key: &str, user_id: i64, now: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("DELETE FROM codo_csrf_keys WHERE csrf_key = $1 AND user_id = $2 AND expires_at >= $3")
        .bind(key)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes every expired csrf key; returns how many.
pub async fn sweep_csrf_keys(db: &Db, now: i64) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("DELETE FROM codo_csrf_keys WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
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

/// Records that instance `node` is alive at `now` (a write, for the write probe).
pub async fn touch_instance(conn: &mut sqlx::AnyConnection, node: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO instances (node_id, started_at, seen_at) VALUES ($1, $2, $2)
         ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(node)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
