//! Users and their long-lived API tokens.

use api_types::{Role, Scope, TokenInfo, User};

use sqlx::AnyConnection;

use super::{from_json, now_ms, rfc3339, to_json, Db, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub user_groups: String,
    pub disabled: i64,
    /// Sessions issued in an older epoch are refused; see [`update`].
    pub session_epoch: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn role(&self) -> StoreResult<Role> {
        Role::parse(&self.role).ok_or_else(|| StoreError::Corrupt(format!("users.role {:?}", self.role)))
    }

    pub fn groups(&self) -> StoreResult<Vec<String>> {
        from_json("users.user_groups", &self.user_groups)
    }

    pub fn to_api(&self) -> StoreResult<User> {
        Ok(User {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            role: self.role()?,
            groups: self.groups()?,
            disabled: self.disabled != 0,
            created_at: rfc3339(self.created_at),
        })
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub groups: &'a [String],
}

const USER_COLUMNS: &str = "id, username, display_name, email, password_hash, role, user_groups, disabled, \
    session_epoch, created_at, updated_at";

pub async fn count(db: &Db) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&db.pool).await?)
}

pub async fn insert(conn: &mut AnyConnection, user: NewUser<'_>) -> StoreResult<i64> {
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, email, password_hash, role, user_groups, disabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7) RETURNING id",
    )
    .bind(user.username)
    .bind(user.display_name)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(to_json(&user.groups))
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(
            api_types::Message::new("user {name} already exists").arg("name", format!("{:?}", user.username)),
        ),
        other => other,
    })?;
    Ok(id)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<UserRow> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn by_username(db: &Db, username: &str) -> StoreResult<UserRow> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(username).fetch_one(&db.pool).await?)
}

pub async fn list(db: &Db) -> StoreResult<Vec<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

/// Users who may still log in.
pub async fn list_enabled(db: &Db) -> StoreResult<Vec<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE disabled = 0 ORDER BY username");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

/// Writes back every mutable field of `row`; with `end_sessions`, also raises the
/// session epoch in the same statement, so every session issued before is refused.
pub async fn update(conn: &mut AnyConnection, row: &UserRow, end_sessions: bool) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE users SET display_name = $1, email = $2, password_hash = $3, role = $4, user_groups = $5,
                disabled = $6, updated_at = $7, session_epoch = session_epoch + $9 WHERE id = $8",
    )
    .bind(&row.display_name)
    .bind(&row.email)
    .bind(&row.password_hash)
    .bind(&row.role)
    .bind(&row.user_groups)
    .bind(row.disabled)
    .bind(now_ms())
    .bind(row.id)
    .bind(i64::from(end_sessions))
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TokenRow {
    pub fn scopes(&self) -> StoreResult<Vec<Scope>> {
        from_json("api_tokens.scopes", &self.scopes)
    }

    pub fn to_api(&self) -> StoreResult<TokenInfo> {
        Ok(TokenInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            owner: self.username.clone(),
            scopes: self.scopes()?,
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
            last_used_at: self.last_used_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
        })
    }
}

const TOKEN_SELECT: &str = "SELECT t.id, t.user_id, u.username, t.name, t.scopes, t.created_at, t.expires_at,
        t.last_used_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id";

pub async fn insert_token(
    conn: &mut AnyConnection,
    id: &str,
    user_id: i64,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<i64>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(user_id)
    .bind(name)
    .bind(to_json(&scopes))
    .bind(now_ms())
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_token(db: &Db, id: &str) -> StoreResult<TokenRow> {
    let sql = format!("{TOKEN_SELECT} WHERE t.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

/// Tokens of one user, or of everyone when `user_id` is `None`; newest first.
pub async fn list_tokens(db: &Db, user_id: Option<i64>) -> StoreResult<Vec<TokenRow>> {
    let rows = match user_id {
        Some(uid) => {
            let sql = format!("{TOKEN_SELECT} WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(uid).fetch_all(&db.pool).await?
        }
        None => {
            let sql = format!("{TOKEN_SELECT} ORDER BY t.created_at DESC, t.id");
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?
        }
    };
    Ok(rows)
}

/// Marks a token revoked; revoking twice keeps the first time.
pub async fn revoke_token(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the first use of ticket `id` (good until `expires_at`); false when it was used
/// before. Forgets the tickets that ran out before `now`.
pub async fn use_ticket(db: &Db, id: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM used_tickets WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
    let first = sqlx::query("INSERT INTO used_tickets (id, expires_at) VALUES ($1, $2)")
        .bind(id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await;
    let first = match first.map_err(StoreError::from) {
        Ok(_) => true,
        Err(StoreError::Conflict(_)) => false,
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    Ok(first)
}

/// How precisely a token's last use is recorded.
pub const TOKEN_USE_RESOLUTION_MS: i64 = 60_000;

/// Records a token's use, at most once a minute per token so that busy scripts do not
/// turn reads into writes.
pub async fn touch_token(db: &Db, id: &str, now: i64) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - TOKEN_USE_RESOLUTION_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
