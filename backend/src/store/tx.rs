//! Write transactions that a failed commit cannot poison, and the record of whether the
//! database takes writes at all.
//!
//! sqlx's own transaction type left a pooled SQLite connection at a non-zero transaction
//! depth after a failed COMMIT (disk full): every later transaction on it failed until
//! the server restarted. Here a transaction is plain `BEGIN` … `COMMIT` on a connection
//! taken from the pool; a commit that fails is rolled back and its connection closed, so
//! the pool opens a fresh one, and the server recovers by itself once the disk does.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};

use super::{now_ms, StoreResult};

/// Whether writes succeed: the last commit's outcome.
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// Since when (ms), and why, commits fail; `None` while they succeed.
    failing: Mutex<Option<(i64, String)>>,
}

impl WriteHealth {
    fn failed(&self, e: &sqlx::Error) {
        let mut failing = self.failing.lock().expect("health lock");
        if failing.is_none() {
            tracing::error!(error = %e, "the database refused a write; the server keeps retrying");
            *failing = Some((now_ms(), e.to_string()));
        }
    }

    fn succeeded(&self) {
        let mut failing = self.failing.lock().expect("health lock");
        if let Some((since, _)) = failing.take() {
            tracing::warn!(failing_for_ms = now_ms() - since, "the database takes writes again");
        }
    }

    /// Since when and why writes fail, or `None` when the last one succeeded.
    pub fn failure(&self) -> Option<(i64, String)> {
        self.failing.lock().expect("health lock").clone()
    }
}

/// A write transaction. Dereferences to the connection, so store functions take
/// `&mut tx` as `&mut AnyConnection`. Dropped without `commit`, it is rolled back.
pub struct WriteTx {
    conn: Option<PoolConnection<Any>>,
    health: Arc<WriteHealth>,
}

impl WriteTx {
    pub(super) async fn begin(
        mut conn: PoolConnection<Any>,
        begin: &'static str,
        health: Arc<WriteHealth>,
    ) -> StoreResult<WriteTx> {
        if let Err(e) = (&mut *conn).execute(begin).await {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(WriteTx { conn: Some(conn), health })
    }

    /// Commits. On failure the transaction is rolled back and its connection discarded,
    /// and the failure is recorded for `/healthz` until a later commit succeeds.
    pub async fn commit(mut self) -> StoreResult<()> {
        let mut conn = self.conn.take().expect("an open transaction");
        match (&mut *conn).execute("COMMIT").await {
            Ok(_) => {
                self.health.succeeded();
                Ok(())
            }
            Err(e) => {
                let _ = (&mut *conn).execute("ROLLBACK").await;
                conn.close_on_drop();
                self.health.failed(&e);
                Err(e.into())
            }
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn.as_deref().expect("an open transaction")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_deref_mut().expect("an open transaction")
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        // Roll back before the connection goes back to the pool; if that cannot happen,
        // the connection is closed instead (which rolls back too).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if (&mut *conn).execute("ROLLBACK").await.is_err() {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}
