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
use sqlx::{Any, AnyConnection, AnyPool, Executor};
use tokio::sync::oneshot;

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

/// SQLite's writers, one at a time, sharing commits. Left to SQLite's busy handler, a
/// waiting writer polls the lock with growing sleeps, and a newcomer can take it ahead of
/// one that has waited for seconds: under a thousand-host run a lease renewal waited past
/// its lease. This instance's writers queue here instead, first come first served, and an
/// urgent one (a lease renewal) waits behind at most the writer that holds the lock and the
/// one next in line.
///
/// Group commit: each commit of SQLite costs an fsync, and writers that queue behind each
/// other would pay one each. Here the writers of a queue share one physical transaction:
/// the first one begins it, each later one works in a savepoint of it (so that its failure
/// undoes only its own work), and a commit ends the writer's part and waits. One task, the
/// flusher, commits: told whenever a turn ends with the transaction open, it queues for a
/// turn like any writer (so the batch holds the writers that queued before it) and commits
/// them all with one fsync; only then is each commit answered. An urgent writer, a full
/// batch, or one whose first writer has waited [`MAX_BATCH_WAIT`] sends the flusher ahead
/// of the queue. Only the flusher commits and it is never cancelled, so every writer of a
/// batch is told the outcome of the commit that really happened. A failed commit fails
/// every writer of the batch: none was answered yet, none is durable.
#[derive(Debug)]
pub struct WriteGate {
    line: tokio::sync::Mutex<()>,
    lock: Arc<tokio::sync::Mutex<Writer>>,
    /// Wakes the flusher: a turn ended with the transaction open.
    flush: Arc<tokio::sync::Notify>,
    /// The flusher is wanted ahead of the queue.
    flush_now: std::sync::atomic::AtomicBool,
    hurry: Arc<tokio::sync::Notify>,
    /// SQLite's one write connection, taken by the writer whose turn it is.
    pool: AnyPool,
    health: Arc<WriteHealth>,
    /// Physical commits so far.
    commits: std::sync::atomic::AtomicU64,
}

/// The write connection and the physical transaction that may be open on it.
#[derive(Debug, Default)]
pub struct Writer {
    conn: Option<PoolConnection<Any>>,
    /// Commits waiting for the open physical transaction; `None` when none is open.
    batch: Option<Vec<oneshot::Sender<Outcome>>>,
    /// Since when the batch's first writer waits.
    waiting_since: Option<std::time::Instant>,
    /// A `BEGIN` was cut short (its caller gave up): whether it began is not known.
    unsure: bool,
}

/// How a shared commit went, as each of its writers is told.
type Outcome = Result<(), Arc<sqlx::Error>>;

/// A writer's turn at the database, held until its part of the transaction ends. Given
/// back with the transaction open, it tells the flusher.
pub struct WriteTurn {
    guard: tokio::sync::OwnedMutexGuard<Writer>,
    gate: Arc<WriteGate>,
}

impl Deref for WriteTurn {
    type Target = Writer;

    fn deref(&self) -> &Writer {
        &self.guard
    }
}

impl DerefMut for WriteTurn {
    fn deref_mut(&mut self) -> &mut Writer {
        &mut self.guard
    }
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        if self.guard.batch.is_some() {
            self.gate.flush.notify_one();
        }
    }
}

/// How long a writer waits for its turn before giving up, as SQLite's busy timeout would
/// (a turn that never comes is a bug, not a load).
const TURN_TIMEOUT: Duration = Duration::from_secs(30);

/// Most commits one physical transaction waits for before the flusher is sent ahead.
const MAX_BATCH: usize = 1000;

/// Longest wait of a batch's first writer after which the flusher is sent ahead of the
/// queue.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(50);

impl WriteGate {
    /// The gate over `pool` (one connection), with its flusher running on this runtime.
    pub fn start(pool: AnyPool, health: Arc<WriteHealth>) -> Arc<WriteGate> {
        let gate = Arc::new(WriteGate {
            line: Default::default(),
            lock: Default::default(),
            flush: Default::default(),
            flush_now: Default::default(),
            hurry: Default::default(),
            pool,
            health,
            commits: Default::default(),
        });
        tokio::spawn(flusher(Arc::downgrade(&gate), gate.flush.clone(), gate.hurry.clone()));
        gate
    }

    pub async fn turn(self: &Arc<Self>, urgent: bool) -> StoreResult<WriteTurn> {
        let waiting = async {
            if urgent {
                return self.lock.clone().lock_owned().await;
            }
            let _line = self.line.lock().await;
            self.lock.clone().lock_owned().await
        };
        match tokio::time::timeout(TURN_TIMEOUT, waiting).await {
            Ok(guard) => Ok(WriteTurn { guard, gate: self.clone() }),
            Err(_) => Err(super::StoreError::TimedOut(TURN_TIMEOUT)),
        }
    }

    /// How many physical transactions this gate has committed.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends the flusher ahead of the queue.
    fn hurry(&self) {
        self.flush_now.store(true, std::sync::atomic::Ordering::SeqCst);
        self.hurry.notify_one();
    }

    /// Commits what the writers before have left waiting, gives the connection back and
    /// closes its pool (which waits for its connections).
    pub async fn close(self: &Arc<Self>) {
        if let Ok(mut turn) = self.turn(true).await {
            self.commit_batch(&mut turn).await;
            turn.conn = None;
        }
        self.pool.close().await;
    }

    /// Commits the open physical transaction, if any, and tells its waiting writers.
    async fn commit_batch(&self, w: &mut Writer) {
        let Some(waiting) = w.batch.take() else { return };
        w.waiting_since = None;
        let conn = w.conn.as_mut().expect("a batch has its connection");
        let outcome = match (&mut **conn).execute("COMMIT").await {
            Ok(_) => {
                self.commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.health.succeeded();
                Ok(())
            }
            Err(e) => {
                self.health.failed(&e);
                self.discard(w);
                Err(Arc::new(e))
            }
        };
        for tx in waiting {
            let _ = tx.send(outcome.clone());
        }
    }

    /// Ends a batch that cannot be committed: its writers told, its connection closed
    /// (which rolls it back; the pool opens a fresh one).
    fn fail_batch(&self, w: &mut Writer, e: Arc<sqlx::Error>) {
        self.health.failed(&e);
        for tx in w.batch.take().unwrap_or_default() {
            let _ = tx.send(Err(e.clone()));
        }
        self.discard(w);
    }

    fn discard(&self, w: &mut Writer) {
        if let Some(mut conn) = w.conn.take() {
            conn.close_on_drop();
        }
        w.batch = None;
        w.waiting_since = None;
        w.unsure = false;
    }
}

/// Commits each batch when its turn comes: in the line, or ahead of it when hurried.
async fn flusher(gate: std::sync::Weak<WriteGate>, flush: Arc<tokio::sync::Notify>, hurry: Arc<tokio::sync::Notify>) {
    loop {
        tokio::select! {
            _ = flush.notified() => {}
            _ = hurry.notified() => {}
        }
        let Some(g) = gate.upgrade() else { return };
        let urgent = g.flush_now.swap(false, std::sync::atomic::Ordering::SeqCst);
        let turn = if urgent {
            g.turn(true).await
        } else {
            tokio::select! {
                turn = g.turn(false) => turn,
                _ = g.hurry.notified() => {
                    g.flush_now.store(false, std::sync::atomic::Ordering::SeqCst);
                    g.turn(true).await
                }
            }
        };
        match turn {
            Ok(mut turn) => g.commit_batch(&mut turn).await,
            // A turn that never came: tried again.
            Err(e) => {
                tracing::error!(error = %e, "the write flusher did not get its turn");
                g.flush.notify_one();
            }
        }
    }
}

enum Holder {
    /// PostgreSQL: a pooled connection in its own transaction.
    Pooled(PoolConnection<Any>),
    /// SQLite: the write connection, the transaction's first writer or in a savepoint.
    Turn { turn: WriteTurn, urgent: bool, savepoint: bool },
}

/// A write transaction. Dereferences to the connection, so store functions take
/// `&mut tx` as `&mut AnyConnection`. Dropped without `commit`, it is rolled back.
pub struct WriteTx {
    holder: Option<Holder>,
    health: Arc<WriteHealth>,
}

impl WriteTx {
    /// PostgreSQL: `BEGIN` on a connection of the pool.
    pub(super) async fn begin(conn: PoolConnection<Any>, health: Arc<WriteHealth>) -> StoreResult<WriteTx> {
        // Built first: a caller that gives up while BEGIN runs (a timeout) drops it, and
        // the connection is rolled back (or closed) rather than returned to the pool
        // inside a transaction.
        let mut tx = WriteTx { holder: Some(Holder::Pooled(conn)), health };
        if let Err(e) = (&mut *tx).execute("BEGIN").await {
            if let Some(Holder::Pooled(mut conn)) = tx.holder.take() {
                conn.close_on_drop();
            }
            return Err(e.into());
        }
        Ok(tx)
    }

    /// SQLite: once this writer's turn has come, `BEGIN IMMEDIATE` when no transaction is
    /// open, else a savepoint in the open one.
    pub(super) async fn begin_turn(gate: Arc<WriteGate>, urgent: bool) -> StoreResult<WriteTx> {
        let mut turn = gate.turn(urgent).await?;
        if turn.conn.is_none() {
            turn.conn = Some(gate.pool.acquire().await?);
        }
        if turn.unsure {
            // The BEGIN before was cut short: whatever it began holds nothing yet.
            let conn = turn.conn.as_mut().expect("just taken");
            let _ = (&mut **conn).execute("ROLLBACK").await;
            turn.unsure = false;
        }
        let savepoint = turn.batch.is_some();
        if !savepoint {
            turn.unsure = true;
            let conn = turn.conn.as_mut().expect("just taken");
            if let Err(e) = (&mut **conn).execute("BEGIN IMMEDIATE").await {
                gate.discard(&mut turn);
                return Err(e.into());
            }
            turn.unsure = false;
            turn.batch = Some(Vec::new());
        }
        let health = gate.health.clone();
        // Built before the savepoint: dropped from here on, it is rolled back.
        let mut tx = WriteTx { holder: Some(Holder::Turn { turn, urgent, savepoint }), health };
        if savepoint {
            (&mut *tx).execute("SAVEPOINT writer").await?;
        }
        Ok(tx)
    }

    /// Commits: durable when this returns `Ok`. On failure the transaction is rolled back
    /// and its connection discarded, and the failure is recorded for `/healthz` until a
    /// later commit succeeds.
    pub async fn commit(mut self) -> StoreResult<()> {
        match self.holder.take().expect("an open transaction") {
            Holder::Pooled(mut conn) => match (&mut *conn).execute("COMMIT").await {
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
            },
            Holder::Turn { mut turn, urgent, savepoint } => {
                if savepoint {
                    let conn = turn.conn.as_mut().expect("a turn's connection");
                    if let Err(e) = (&mut **conn).execute("RELEASE writer").await {
                        // The savepoint is gone only when SQLite rolled the whole
                        // transaction back (a full disk, an I/O error): the batch's
                        // earlier writers lose their work too.
                        let e = Arc::new(e);
                        let gate = turn.gate.clone();
                        gate.fail_batch(&mut turn, e.clone());
                        return Err(super::StoreError::CommitFailed(e));
                    }
                }
                let (tx, rx) = oneshot::channel();
                let batch = turn.batch.as_mut().expect("an open batch");
                batch.push(tx);
                let full = batch.len() >= MAX_BATCH;
                let first = *turn.waiting_since.get_or_insert_with(std::time::Instant::now);
                if urgent || full || first.elapsed() >= MAX_BATCH_WAIT {
                    turn.gate.hurry();
                }
                // Given back with the transaction open: the flusher is told.
                drop(turn);
                match rx.await {
                    Ok(outcome) => outcome.map_err(super::StoreError::CommitFailed),
                    // The gate went away with the batch uncommitted (the server stopping).
                    Err(_) => Err(super::StoreError::CommitFailed(Arc::new(sqlx::Error::PoolClosed))),
                }
            }
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self.holder.as_ref().expect("an open transaction") {
            Holder::Pooled(conn) => conn,
            Holder::Turn { turn, .. } => turn.conn.as_deref().expect("a turn's connection"),
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self.holder.as_mut().expect("an open transaction") {
            Holder::Pooled(conn) => conn,
            Holder::Turn { turn, .. } => turn.conn.as_deref_mut().expect("a turn's connection"),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(holder) = self.holder.take() else { return };
        // Rolled back before the connection is used again; when that cannot happen, the
        // connection is closed instead (which rolls back too). The next writer's turn
        // comes after the rollback.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            match holder {
                Holder::Pooled(mut conn) => conn.close_on_drop(),
                Holder::Turn { mut turn, .. } => {
                    let gate = turn.gate.clone();
                    gate.fail_batch(&mut turn, Arc::new(sqlx::Error::PoolClosed));
                }
            }
            return;
        };
        runtime.spawn(async move {
            match holder {
                Holder::Pooled(mut conn) => {
                    if (&mut *conn).execute("ROLLBACK").await.is_err() {
                        conn.close_on_drop();
                    }
                }
                Holder::Turn { mut turn, savepoint, .. } => {
                    let gate = turn.gate.clone();
                    let conn = turn.conn.as_mut().expect("a turn's connection");
                    if savepoint {
                        let undone = match (&mut **conn).execute("ROLLBACK TO writer").await {
                            Ok(_) => (&mut **conn).execute("RELEASE writer").await.map(drop),
                            Err(e) => Err(e),
                        };
                        if let Err(e) = undone {
                            gate.fail_batch(&mut turn, Arc::new(e));
                        }
                    } else {
                        // The transaction's first writer: nobody else's work is in it. It
                        // ends here, and SQLite's write lock is free for other processes.
                        if (&mut **conn).execute("ROLLBACK").await.is_err() {
                            gate.discard(&mut turn);
                        }
                        turn.batch = None;
                        turn.waiting_since = None;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gate whose pool never connects (these tests only take turns).
    fn gate() -> Arc<WriteGate> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new().connect_lazy("sqlite::memory:").unwrap();
        WriteGate::start(pool, Default::default())
    }

    #[tokio::test(start_paused = true)]
    async fn writers_take_turns_in_order_and_an_urgent_one_goes_ahead_of_the_queue() {
        let gate = gate();
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
        let gate = gate();
        let _holder = gate.turn(false).await.unwrap();
        assert!(matches!(gate.turn(false).await, Err(crate::store::StoreError::TimedOut(_))));
        assert!(matches!(gate.turn(true).await, Err(crate::store::StoreError::TimedOut(_))));
    }
}
