//! Persistence: one `Db` over SQLite or PostgreSQL, one module per table group.
//!
//! All SQL is written once for both dialects through sqlx's `Any` driver: `$n`
//! placeholders (SQLite reads them too), times as BIGINT Unix milliseconds and JSON as
//! text. Where the dialects must differ, `Db::dialect` says which one runs.

pub mod audit;
pub mod catalogue;
pub mod integrations;
pub mod misc;
pub mod runs;
pub mod schedules;
pub mod tasks;
pub mod tx;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(api_types::Message),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The physical transaction that this write shared with others (SQLite's group
    /// commit) was not committed: none of their work is durable.
    #[error("the write could not be committed: {0}")]
    CommitFailed(std::sync::Arc<sqlx::Error>),
    #[error("the database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
    /// A write of a run by an instance that no longer owns it (its lease ran out and the
    /// run was taken over, or a new attempt began): refused.
    #[error("task {task_id} attempt {attempt} is no longer run by {owner}: the write was refused")]
    Fenced { task_id: i64, attempt: i64, owner: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string().into())
            }
            _ => StoreError::Database(e),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// Whether the last commit succeeded (for `/healthz`).
    pub health: std::sync::Arc<tx::WriteHealth>,
    /// SQLite's writers queue here and share commits (see [`tx::WriteGate`]), on the
    /// gate's own connection; PostgreSQL locks rows.
    gate: Option<std::sync::Arc<tx::WriteGate>>,
    /// PostgreSQL: two connections of its own for the writes that keep the instance's
    /// promises in time (lease renewals, claims), which would otherwise wait for a
    /// connection behind thousands of runs' reads and writes.
    control: Option<AnyPool>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Opens the database. A missing SQLite file is created private: its directory 0700,
    /// the file 0600 (SQLite gives its -wal and -shm files the same mode).
    pub async fn connect(url: &str) -> StoreResult<Db> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") { Dialect::Sqlite } else { Dialect::Postgres };
        let mut url = url.to_string();
        let creates = !url.contains("mode=") || url.contains("mode=rwc");
        if dialect == Dialect::Sqlite && creates {
            if let Some(path) = sqlite_path(&url) {
                create_private_file(std::path::Path::new(path))
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        if dialect == Dialect::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_of = |size: u32| {
            // SQLite: no ping before each use (sqlx's default), which doubled the round
            // trips of every read (a message to the connection's thread and back) for a
            // file that cannot drop the connection. PostgreSQL keeps it: a connection
            // that died while idle (a restart, a cut) is replaced before it fails work.
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire(dialect == Dialect::Postgres)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if dialect == Dialect::Sqlite {
                            // WAL lets readers run beside the writer; FULL sync makes a
                            // commit durable before we answer; the busy timeout queues
                            // writers that do not go through the gate (and other processes).
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                        } else {
                            // A frozen or cut-off instance must not keep the rows it locked
                            // (a task's row, which others need to take its run over) for
                            // ever: PostgreSQL ends a transaction left idle this long.
                            conn.execute("SET idle_in_transaction_session_timeout = '20s'").await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = pool_of(if dialect == Dialect::Sqlite { 4 } else { 10 }).connect_with(options.clone()).await?;
        // SQLite: the write transactions' own connection. Only the writer whose turn it is
        // holds it, so a writer never waits behind readers for a connection.
        let health = std::sync::Arc::new(tx::WriteHealth::default());
        let (gate, control) = match dialect {
            Dialect::Sqlite => {
                (Some(tx::WriteGate::start(pool_of(1).connect_with(options).await?, health.clone())), None)
            }
            Dialect::Postgres => (None, Some(pool_of(2).connect_with(options).await?)),
        };
        Ok(Db { pool, dialect, health, gate, control })
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Starts a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so that two read-then-write transactions queue instead of failing with SQLITE_BUSY,
    /// and this instance's writers take turns for it in the order they came.
    pub async fn begin_write(&self) -> StoreResult<tx::WriteTx> {
        self.begin(false).await
    }

    /// A write transaction that goes ahead of the queued ones and is durable at once (on
    /// SQLite with the queued writes that wait for their shared commit; on PostgreSQL on
    /// the control connections): for writes that keep the instance's promises in time
    /// (lease renewals), few and short.
    pub async fn begin_urgent_write(&self) -> StoreResult<tx::WriteTx> {
        self.begin(true).await
    }

    /// A write transaction of the dispatcher's claims: on PostgreSQL on the control
    /// connections (not behind the runs' work for a connection); on SQLite in the queue
    /// like any writer (ahead of it, renewals would wait behind a claim of 500 tasks).
    pub async fn begin_claim_write(&self) -> StoreResult<tx::WriteTx> {
        match &self.control {
            Some(control) => tx::WriteTx::begin(control.acquire().await?, self.health.clone()).await,
            None => self.begin(false).await,
        }
    }

    async fn begin(&self, urgent: bool) -> StoreResult<tx::WriteTx> {
        match (&self.gate, &self.control) {
            // The turn first: a writer waiting for it holds no connection meanwhile.
            (Some(gate), _) => tx::WriteTx::begin_turn(gate.clone(), urgent).await,
            (None, Some(control)) if urgent => tx::WriteTx::begin(control.acquire().await?, self.health.clone()).await,
            (None, _) => tx::WriteTx::begin(self.pool.acquire().await?, self.health.clone()).await,
        }
    }

    /// SQLite: how many physical commits this instance has made (each a shared commit of
    /// one or more write transactions); `None` on PostgreSQL.
    pub fn commits(&self) -> Option<u64> {
        self.gate.as_ref().map(|g| g.commits())
    }

    /// Writes this instance's liveness row: a real write, so that `/healthz` notices a
    /// database that stopped taking writes (a full disk) even when nothing else writes,
    /// and notices it taking them again.
    pub async fn probe_write(&self, node: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        misc::touch_instance(&mut tx, node, now_ms()).await?;
        tx.commit().await
    }

    /// Whether the database answers and its last write succeeded; the reason if not.
    pub async fn check_health(&self) -> Result<(), String> {
        if let Err(e) = sqlx::query("SELECT 1").execute(&self.pool).await {
            tracing::warn!(error = %e, "health check: database unreachable");
            return Err("database unreachable".into());
        }
        match self.health.failure() {
            None => Ok(()),
            Some((since, why)) => Err(format!("database does not take writes since {}: {why}", rfc3339(since))),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(gate) = &self.gate {
            gate.close().await;
        }
        if let Some(control) = &self.control {
            control.close().await;
        }
    }
}

/// Creates an empty file with mode 0600 (and its missing directories with 0700) unless it
/// exists; an existing file keeps its mode.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::crypto::create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The most rows one multi-row INSERT writes: at 10 columns that is 1,000 parameters
/// (the bundled SQLite takes up to 32,766 a statement, PostgreSQL 65,535).
pub const ROWS_PER_INSERT: usize = 100;

/// `head` followed by `rows` groups of `cols` parameters: `(?, ?), (?, ?)` on SQLite,
/// `($1, $2), ($3, $4)` on PostgreSQL. SQLite finds a numbered parameter by walking the
/// statement's list of names, so binding the ~1,000 of a 100-row INSERT took time
/// quadratic in their number (65 % of the CPU while storing logs); anonymous ones are
/// bound by position.
pub fn multi_row_insert(conn: &sqlx::AnyConnection, head: &str, rows: usize, cols: usize) -> String {
    let anonymous = is_sqlite(conn);
    let mut sql = String::with_capacity(head.len() + rows * cols * 5);
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { " (" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            if anonymous {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * cols + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

fn is_sqlite(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME
}

/// `n` parameters, to be bound in the order they appear in the statement: `?` on
/// SQLite (bound by position, see [`multi_row_insert`]), `$1` … `$n` on PostgreSQL.
pub fn placeholders(conn: &sqlx::AnyConnection, n: usize) -> Vec<String> {
    if is_sqlite(conn) {
        vec!["?".to_string(); n]
    } else {
        (1..=n).map(|i| format!("${i}")).collect()
    }
}

/// Current time in Unix milliseconds, the unit of every stored time (see `clock`).
pub fn now_ms() -> i64 {
    crate::clock::now_ms()
}

/// Unix milliseconds → RFC 3339 in UTC, the form every API time takes.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn bool_int(b: bool) -> i64 {
    i64::from(b)
}

/// Decodes a JSON text column, reporting which column was corrupt.
pub fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialising plain data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite://data/taskgate.db"), Some("data/taskgate.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/x.db?mode=rwc"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    async fn names(db: &Db) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM t ORDER BY rowid").fetch_all(&db.pool).await.unwrap()
    }

    /// Each writer inserts its name when its turn comes.
    async fn write(db: Db, name: &'static str, urgent: bool) {
        let mut tx = if urgent { db.begin_urgent_write().await } else { db.begin_write().await }.unwrap();
        sqlx::query("INSERT INTO t (name) VALUES ($1)").bind(name).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_writers_take_turns_in_order_and_a_renewal_goes_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("CREATE TABLE t (name TEXT NOT NULL)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        // Dropped without a commit: rolled back, and the next writer gets its turn.
        let mut dropped = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO t (name) VALUES ('rolled back')").execute(&mut *dropped).await.unwrap();
        drop(dropped);

        let holder = db.begin_write().await.unwrap();
        let mut writers = vec![];
        for (name, urgent) in [("a", false), ("b", false), ("c", false), ("renewal", true)] {
            writers.push(tokio::spawn(write(db.clone(), name, urgent)));
            // Each has queued before the next comes (the gate's queue holds no connection).
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        holder.commit().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(names(&db).await, ["a", "renewal", "b", "c"]);
    }

    async fn table(db: &Db) {
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("CREATE TABLE t (name TEXT NOT NULL UNIQUE)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn sqlite_db(dir: &tempfile::TempDir) -> Db {
        Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap()
    }

    #[tokio::test]
    async fn sqlite_writers_that_queue_together_share_one_commit_and_each_is_durable_when_its_commit_returns() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir).await;
        table(&db).await;
        let before = db.commits().unwrap();
        let holder = db.begin_write().await.unwrap();
        let mut writers = vec![];
        for i in 0..20 {
            let db = db.clone();
            writers.push(tokio::spawn(async move {
                let name = format!("w{i}");
                let mut tx = db.begin_write().await.unwrap();
                sqlx::query("INSERT INTO t (name) VALUES ($1)").bind(&name).execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
                // Seen at once by another connection: committed, not only released.
                let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t WHERE name = $1")
                    .bind(&name)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                assert_eq!(seen, 1, "{name} was answered before it was committed");
            }));
        }
        // Every writer has queued behind the holder before it lets go.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        holder.commit().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(names(&db).await.len(), 20);
        let commits = db.commits().unwrap() - before;
        assert!(commits <= 3, "20 queued writers took {commits} commits");
        // A file opened anew (as after a crash) holds them all.
        db.close().await;
        let reopened = sqlite_db(&dir).await;
        assert_eq!(names(&reopened).await.len(), 20);
    }

    #[tokio::test]
    async fn a_writer_that_fails_inside_a_shared_commit_loses_only_its_own_work() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir).await;
        table(&db).await;
        let holder = db.begin_write().await.unwrap();
        let a = tokio::spawn(write(db.clone(), "a", false));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Writes a row, then fails on a duplicate and gives up: rolled back as a whole.
        let failing = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin_write().await.unwrap();
                sqlx::query("INSERT INTO t (name) VALUES ('lost')").execute(&mut *tx).await.unwrap();
                let dup = sqlx::query("INSERT INTO t (name) VALUES ('a')").execute(&mut *tx).await;
                assert!(dup.is_err(), "a's row is visible to the writers after it");
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let c = tokio::spawn(write(db.clone(), "c", false));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        holder.commit().await.unwrap();
        a.await.unwrap();
        failing.await.unwrap();
        c.await.unwrap();
        assert_eq!(names(&db).await, ["a", "c"]);
        // And the connection goes on taking writes.
        write(db.clone(), "d", false).await;
        assert_eq!(names(&db).await, ["a", "c", "d"]);
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_on_its_commit_does_not_fail_the_others_it_commits_with() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir).await;
        table(&db).await;
        let mut holder = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO t (name) VALUES ('holder')").execute(&mut *holder).await.unwrap();
        let a = tokio::spawn(write(db.clone(), "a", false));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // An urgent writer (it commits the batch itself) that gives up on its commit at
        // once, as a timeout would: the commit it started goes on all the same.
        let urgent = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin_urgent_write().await.unwrap();
                sqlx::query("INSERT INTO t (name) VALUES ('urgent')").execute(&mut *tx).await.unwrap();
                // Polled once, then dropped.
                let mut commit = std::pin::pin!(tx.commit());
                let first =
                    std::future::poll_fn(|cx| std::task::Poll::Ready(std::future::Future::poll(commit.as_mut(), cx)))
                        .await;
                assert!(first.is_pending(), "the commit was still under way: {first:?}");
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Both shared the urgent writer's commit: each is told it succeeded.
        holder.commit().await.unwrap();
        a.await.unwrap();
        urgent.await.unwrap();
        write(db.clone(), "after", false).await;
        assert_eq!(names(&db).await, ["holder", "a", "urgent", "after"]);
    }
}
