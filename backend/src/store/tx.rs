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
use std::time::Duration;

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

/// SQLite's writers, one at a time. Left to SQLite's busy handler, a waiting writer
/// polls the lock with growing sleeps, and a newcomer can take it ahead of one that has
/// waited for seconds: under a thousand-host run a lease renewal waited past its lease.
/// This instance's writers queue here instead, first come first served, and an urgent
/// one (a lease renewal) waits behind at most the writer that holds the lock and the one
/// next in line.
#[derive(Debug, Default)]
pub struct WriteGate {
    line: tokio::sync::Mutex<()>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// A writer's turn at the database, held until its transaction ends.
pub type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

/// How long a writer waits for its turn before giving up, as SQLite's busy timeout would
/// (a turn that never comes is a bug, not a load).
const TURN_TIMEOUT: Duration = Duration::from_secs(30);

impl WriteGate {
    pub async fn turn(&self, urgent: bool) -> StoreResult<WriteTurn> {
        let waiting = async {
            if urgent {
                return self.lock.clone().lock_owned().await;
            }
            let _line = self.line.lock().await;
            self.lock.clone().lock_owned().await
        };
        tokio::time::timeout(TURN_TIMEOUT, waiting).await.map_err(|_| super::StoreError::TimedOut(TURN_TIMEOUT))
    }
}

/// A write transaction. Dereferences to the connection, so store functions take
/// `&mut tx` as `&mut AnyConnection`. Dropped without `commit`, it is rolled back.
pub struct WriteTx {
    conn: Option<PoolConnection<Any>>,
    health: Arc<WriteHealth>,
    /// The writer's turn (SQLite), given back when the transaction has ended.
    turn: Option<WriteTurn>,
}

impl WriteTx {
    pub(super) async fn begin(
        conn: PoolConnection<Any>,
        begin: &'static str,
        health: Arc<WriteHealth>,
        turn: Option<WriteTurn>,
    ) -> StoreResult<WriteTx> {
        // Built first: a caller that gives up while BEGIN runs (a timeout) drops it, and
        // the connection is rolled back (or closed) rather than returned to the pool
        // inside a transaction that holds the write lock.
        let mut tx = WriteTx { conn: Some(conn), health, turn };
        if let Err(e) = (&mut *tx).execute(begin).await {
            if let Some(mut conn) = tx.conn.take() {
                conn.close_on_drop();
            }
            return Err(e.into());
        }
        Ok(tx)
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
        // the connection is closed instead (which rolls back too). The next writer's turn
        // comes after the rollback.
        let turn = self.turn.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if (&mut *conn).execute("ROLLBACK").await.is_err() {
                        conn.close_on_drop();
                    }
                    drop(turn);
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writers_take_turns_in_order_and_an_urgent_one_goes_ahead_of_the_queue() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = gate.turn(false).await.unwrap();
        let mut writers = vec![];
        for (name, urgent) in [("a", false), ("b", false), ("c", false), ("d", false), ("renewal", true)] {
            let (gate, order) = (gate.clone(), order.clone());
            writers.push(tokio::spawn(async move {
                let _turn = gate.turn(urgent).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }));
            // Each arrives after the one before it has queued.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(holder);
        for w in writers {
            w.await.unwrap();
        }
        // "a" was next in line when the renewal came; b, c and d waited behind it.
        assert_eq!(*order.lock().unwrap(), ["a", "renewal", "b", "c", "d"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_that_never_comes_is_given_up_with_an_error() {
        let gate = WriteGate::default();
        let _holder = gate.turn(false).await.unwrap();
        assert!(matches!(gate.turn(false).await, Err(crate::store::StoreError::TimedOut(_))));
        assert!(matches!(gate.turn(true).await, Err(crate::store::StoreError::TimedOut(_))));
    }
}
