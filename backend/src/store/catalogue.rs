//! The library: commands, parameter aliases, templates, hosts, credentials.
//!
//! Rows are stored as the service hands them over (already validated); the service
//! turns them into API types.

use sqlx::AssertSqlSafe;

use sqlx::AnyConnection;

use super::{now_ms, Db, StoreError, StoreResult};

/// The table behind each catalogue kind, with the name used in conflict messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Command,
    Alias,
    Template,
    Host,
    Credential,
}

impl Kind {
    pub fn table(self) -> &'static str {
        match self {
            Kind::Command => "commands",
            Kind::Alias => "aliases",
            Kind::Template => "templates",
            Kind::Host => "hosts",
            Kind::Credential => "credentials",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::Alias => "alias",
            Kind::Template => "template",
            Kind::Host => "host",
            Kind::Credential => "credential",
        }
    }
}

fn named_conflict(kind: Kind, name: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(
            api_types::Message::new("a {what} named {name} already exists")
                .nested("what", api_types::Message::new(kind.noun()))
                .arg("name", format!("{name:?}")),
        ),
        other => other,
    }
}

pub async fn delete(conn: &mut AnyConnection, kind: Kind, id: i64) -> StoreResult<()> {
    let sql = format!("DELETE FROM {} WHERE id = $1", kind.table());
    let done = sqlx::query(AssertSqlSafe(sql)).bind(id).execute(conn).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

// ---- commands ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommandRow {
    pub id: i64,
    pub name: String,
    pub body: String,
    pub interpreter: String,
    pub timeout_secs: i64,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COMMAND_COLUMNS: &str = "id, name, body, interpreter, timeout_secs, description, created_at, updated_at";

pub async fn save_command(conn: &mut AnyConnection, row: &CommandRow) -> StoreResult<i64> {
    let now = now_ms();
    let id = if row.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO commands (name, body, interpreter, timeout_secs, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&row.name)
        .bind(&row.body)
        .bind(&row.interpreter)
        .bind(row.timeout_secs)
        .bind(&row.description)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Command, &row.name))?
    } else {
        let done = sqlx::query(
            "UPDATE commands SET name = $1, body = $2, interpreter = $3, timeout_secs = $4, description = $5,
             updated_at = $6 WHERE id = $7",
        )
        .bind(&row.name)
        .bind(&row.body)
        .bind(&row.interpreter)
        .bind(row.timeout_secs)
        .bind(&row.description)
        .bind(now)
        .bind(row.id)
        .execute(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Command, &row.name))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        row.id
    };
    Ok(id)
}

pub async fn get_command(db: &Db, id: i64) -> StoreResult<CommandRow> {
    let sql = format!("SELECT {COMMAND_COLUMNS} FROM commands WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list_commands(db: &Db) -> StoreResult<Vec<CommandRow>> {
    let sql = format!("SELECT {COMMAND_COLUMNS} FROM commands ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

// ---- aliases ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AliasRow {
    pub id: i64,
    pub param_key: String,
    pub label: String,
    pub description: String,
    pub param_type: String,
    pub default_value: Option<String>,
    pub required: i64,
    pub pattern: Option<String>,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub choices: String,
    pub secret: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const ALIAS_COLUMNS: &str = "id, param_key, label, description, param_type, default_value, required, pattern,
    min_value, max_value, choices, secret, created_at, updated_at";

/// Replaces an alias's default if it is still `expected` (compare-and-set).
pub async fn set_alias_default(
    conn: &mut AnyConnection,
    id: i64,
    expected: Option<&str>,
    default: Option<&str>,
) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE aliases SET default_value = $1 WHERE id = $2 AND default_value = $3")
        .bind(default)
        .bind(id)
        .bind(expected)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn save_alias(conn: &mut AnyConnection, row: &AliasRow) -> StoreResult<i64> {
    let now = now_ms();
    let id = if row.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO aliases (param_key, label, description, param_type, default_value, required, pattern,
                min_value, max_value, choices, secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        )
        .bind(&row.param_key)
        .bind(&row.label)
        .bind(&row.description)
        .bind(&row.param_type)
        .bind(&row.default_value)
        .bind(row.required)
        .bind(&row.pattern)
        .bind(row.min_value)
        .bind(row.max_value)
        .bind(&row.choices)
        .bind(row.secret)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Alias, &row.param_key))?
    } else {
        let done = sqlx::query(
            "UPDATE aliases SET param_key = $1, label = $2, description = $3, param_type = $4, default_value = $5,
                required = $6, pattern = $7, min_value = $8, max_value = $9, choices = $10, secret = $11,
                updated_at = $12 WHERE id = $13",
        )
        .bind(&row.param_key)
        .bind(&row.label)
        .bind(&row.description)
        .bind(&row.param_type)
        .bind(&row.default_value)
        .bind(row.required)
        .bind(&row.pattern)
        .bind(row.min_value)
        .bind(row.max_value)
        .bind(&row.choices)
        .bind(row.secret)
        .bind(now)
        .bind(row.id)
        .execute(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Alias, &row.param_key))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        row.id
    };
    Ok(id)
}

pub async fn get_alias(db: &Db, id: i64) -> StoreResult<AliasRow> {
    let sql = format!("SELECT {ALIAS_COLUMNS} FROM aliases WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list_aliases(db: &Db) -> StoreResult<Vec<AliasRow>> {
    let sql = format!("SELECT {ALIAS_COLUMNS} FROM aliases ORDER BY param_key");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

// ---- templates ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub approver_group: Option<String>,
    pub approval_timeout_secs: Option<i64>,
    pub require_approval: i64,
    pub extra_params: String,
    pub raw_params: i64,
    pub strategy: String,
    pub canary_size: i64,
    pub steps: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEMPLATE_COLUMNS: &str = "id, name, description, approver_group, approval_timeout_secs, require_approval,
    extra_params, raw_params, strategy, canary_size, steps, created_at, updated_at";

pub async fn save_template(conn: &mut AnyConnection, row: &TemplateRow) -> StoreResult<i64> {
    let now = now_ms();
    let id = if row.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO templates (name, description, approver_group, approval_timeout_secs, extra_params,
                raw_params, strategy, canary_size, steps, created_at, updated_at, require_approval)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id",
        )
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.approver_group)
        .bind(row.approval_timeout_secs)
        .bind(&row.extra_params)
        .bind(row.raw_params)
        .bind(&row.strategy)
        .bind(row.canary_size)
        .bind(&row.steps)
        .bind(now)
        .bind(row.require_approval)
        .fetch_one(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Template, &row.name))?
    } else {
        let done = sqlx::query(
            "UPDATE templates SET name = $1, description = $2, approver_group = $3, approval_timeout_secs = $4,
                extra_params = $5, raw_params = $6, strategy = $7, canary_size = $8, steps = $9, updated_at = $10,
                require_approval = $12
             WHERE id = $11",
        )
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.approver_group)
        .bind(row.approval_timeout_secs)
        .bind(&row.extra_params)
        .bind(row.raw_params)
        .bind(&row.strategy)
        .bind(row.canary_size)
        .bind(&row.steps)
        .bind(now)
        .bind(row.id)
        .bind(row.require_approval)
        .execute(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Template, &row.name))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        row.id
    };
    Ok(id)
}

pub async fn get_template(db: &Db, id: i64) -> StoreResult<TemplateRow> {
    let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list_templates(db: &Db) -> StoreResult<Vec<TemplateRow>> {
    let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM templates ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

// ---- credentials ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub username: Option<String>,
    pub description: String,
    /// Encrypted with the server's key (`crypto::Keys::encrypt`); never leaves the server.
    pub secret_enc: String,
    pub passphrase_enc: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const CREDENTIAL_COLUMNS: &str =
    "id, name, kind, username, description, secret_enc, passphrase_enc, created_at, updated_at";

pub async fn save_credential(conn: &mut AnyConnection, row: &CredentialRow) -> StoreResult<i64> {
    let now = now_ms();
    let id = if row.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO credentials (name, kind, username, description, secret_enc, passphrase_enc, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.username)
        .bind(&row.description)
        .bind(&row.secret_enc)
        .bind(&row.passphrase_enc)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Credential, &row.name))?
    } else {
        let done = sqlx::query(
            "UPDATE credentials SET name = $1, kind = $2, username = $3, description = $4, secret_enc = $5,
                passphrase_enc = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.username)
        .bind(&row.description)
        .bind(&row.secret_enc)
        .bind(&row.passphrase_enc)
        .bind(now)
        .bind(row.id)
        .execute(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Credential, &row.name))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        row.id
    };
    Ok(id)
}

pub async fn get_credential(db: &Db, id: i64) -> StoreResult<CredentialRow> {
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list_credentials(db: &Db) -> StoreResult<Vec<CredentialRow>> {
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

// ---- hosts ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostRow {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub port: i64,
    pub login_user: String,
    pub labels: String,
    pub credential_id: Option<i64>,
    pub host_key_fingerprint: Option<String>,
    pub trust_on_first_use: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const HOST_COLUMNS: &str = "id, name, address, port, login_user, labels, credential_id, host_key_fingerprint,
    trust_on_first_use, created_at, updated_at";

pub async fn save_host(conn: &mut AnyConnection, row: &HostRow) -> StoreResult<i64> {
    let now = now_ms();
    let id = if row.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO hosts (name, address, port, login_user, labels, credential_id, host_key_fingerprint,
                trust_on_first_use, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(&row.name)
        .bind(&row.address)
        .bind(row.port)
        .bind(&row.login_user)
        .bind(&row.labels)
        .bind(row.credential_id)
        .bind(&row.host_key_fingerprint)
        .bind(row.trust_on_first_use)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Host, &row.name))?
    } else {
        let done = sqlx::query(
            "UPDATE hosts SET name = $1, address = $2, port = $3, login_user = $4, labels = $5, credential_id = $6,
                host_key_fingerprint = $7, trust_on_first_use = $8, updated_at = $9 WHERE id = $10",
        )
        .bind(&row.name)
        .bind(&row.address)
        .bind(row.port)
        .bind(&row.login_user)
        .bind(&row.labels)
        .bind(row.credential_id)
        .bind(&row.host_key_fingerprint)
        .bind(row.trust_on_first_use)
        .bind(now)
        .bind(row.id)
        .execute(&mut *conn)
        .await
        .map_err(named_conflict(Kind::Host, &row.name))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        row.id
    };
    Ok(id)
}

pub async fn get_host(db: &Db, id: i64) -> StoreResult<HostRow> {
    let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&db.pool).await?)
}

pub async fn list_hosts(db: &Db) -> StoreResult<Vec<HostRow>> {
    let sql = format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

/// How many hosts use a credential (a used credential cannot be deleted).
pub async fn hosts_using_credential(db: &Db, credential_id: i64) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE credential_id = $1")
        .bind(credential_id)
        .fetch_one(&db.pool)
        .await?)
}

/// A host key accepted on first use for an address and port.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostKeyRow {
    pub address: String,
    pub port: i64,
    pub fingerprint: String,
    pub first_seen_at: i64,
}

pub async fn list_host_keys(db: &Db) -> StoreResult<Vec<HostKeyRow>> {
    Ok(sqlx::query_as("SELECT address, port, fingerprint, first_seen_at FROM host_keys ORDER BY address, port")
        .fetch_all(&db.pool)
        .await?)
}

/// Records `fingerprint` as the first-use key of `address`:`port` unless a key is
/// recorded there already (a compare-and-set: of two runs racing, one key wins), and
/// returns the key recorded.
pub async fn record_first_use_key(db: &Db, address: &str, port: i64, fingerprint: &str) -> StoreResult<String> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO host_keys (address, port, fingerprint, first_seen_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (address, port) DO NOTHING",
    )
    .bind(address)
    .bind(port)
    .bind(fingerprint)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let recorded = sqlx::query_scalar("SELECT fingerprint FROM host_keys WHERE address = $1 AND port = $2")
        .bind(address)
        .bind(port)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Pins the key a trust-on-first-use host offered, unless one was pinned meanwhile.
pub async fn pin_host_key(db: &Db, host_id: i64, fingerprint: &str) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE hosts SET host_key_fingerprint = $1, updated_at = $2 WHERE id = $3 AND host_key_fingerprint IS NULL",
    )
    .bind(fingerprint)
    .bind(now_ms())
    .bind(host_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
