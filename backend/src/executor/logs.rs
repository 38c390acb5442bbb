//! Log lines from running steps: secret values masked on the byte stream, then split
//! into lines, numbered, and written in batches. The channel to the writer is bounded, so
//! a step that prints faster than the database takes it is slowed down (SSH flow control
//! holds the remote side) instead of filling memory.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::mask::{Masker, Secrets};
use crate::state::AppState;
use crate::store::runs::{insert_run_events, Fence, NewEvent};
use crate::store::StoreError;

/// Lines longer than this are cut into pieces.
const MAX_LINE: usize = 16 * 1024;
/// Lines waiting for the writer, per run.
const QUEUE: usize = 2048;

#[derive(Debug)]
struct Line {
    attempt: i64,
    step: i64,
    host: Arc<str>,
    stream: &'static str,
    seq: i64,
    text: String,
}

/// The writer side of one run's log: many `PairLog`s send, one task writes.
#[derive(Clone)]
pub struct RunLog {
    tx: mpsc::Sender<Line>,
    secrets: Arc<Secrets>,
    /// Once the run is aborting (or lost), a full queue drops lines instead of holding up
    /// the step, whose abort and kill must go on.
    abort: watch::Receiver<bool>,
}

impl RunLog {
    /// Starts the writer for the run `fence` names; `secrets` are masked in every line.
    pub fn start(
        state: &AppState,
        fence: Fence,
        secrets: Vec<String>,
        abort: watch::Receiver<bool>,
    ) -> (RunLog, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_loop(state.clone(), fence, rx));
        (RunLog { tx, secrets: Secrets::new(secrets), abort }, writer)
    }

    /// `text` with every secret masked: for what a run records outside its log, such as
    /// a pair's message (a rendering error may quote a value).
    pub fn mask(&self, text: &str) -> String {
        self.secrets.mask_all(text)
    }

    pub fn pair(&self, attempt: i64, step: i64, host: &str) -> PairLog {
        PairLog {
            run: self.clone(),
            attempt,
            step,
            host: Arc::from(host),
            seq: 0,
            out: Stream::new(&self.secrets),
            err: Stream::new(&self.secrets),
        }
    }
}

/// One output stream of a pair: the masker, then the partial line after it.
struct Stream {
    masker: Masker,
    line: Vec<u8>,
}

impl Stream {
    fn new(secrets: &Arc<Secrets>) -> Stream {
        Stream { masker: Masker::new(secrets.clone()), line: Vec::new() }
    }
}

/// The log of one (attempt, step, host): masks each stream as it comes, and keeps
/// partial lines until their newline comes.
pub struct PairLog {
    run: RunLog,
    attempt: i64,
    step: i64,
    host: Arc<str>,
    seq: i64,
    out: Stream,
    err: Stream,
}

impl PairLog {
    /// Sends one line, already masked.
    async fn emit(&mut self, stream: &'static str, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        // PostgreSQL text cannot hold NUL: it would fail the batch for ever.
        let text = text.strip_suffix('\r').unwrap_or(&text).replace('\0', "\u{fffd}");
        self.seq += 1;
        let line =
            Line { attempt: self.attempt, step: self.step, host: self.host.clone(), stream, seq: self.seq, text };
        // The writer only stops when the run is over; a send error then is harmless.
        let mut abort = self.run.abort.clone();
        if *abort.borrow() {
            let _ = self.run.tx.try_send(line);
            return;
        }
        tokio::select! {
            _ = self.run.tx.send(line) => {}
            _ = abort.wait_for(|a| *a) => {}
        }
    }

    /// Output bytes as they arrive: masked on the stream (a secret may span lines and
    /// reads), then complete lines are sent on.
    pub async fn data(&mut self, stderr: bool, bytes: &[u8]) {
        let s = if stderr { &mut self.err } else { &mut self.out };
        let masked = s.masker.feed(bytes);
        self.lines(stderr, &masked).await;
    }

    async fn lines(&mut self, stderr: bool, bytes: &[u8]) {
        let mut buf = std::mem::take(if stderr { &mut self.err.line } else { &mut self.out.line });
        buf.extend_from_slice(bytes);
        let stream = if stderr { "stderr" } else { "stdout" };
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos;
            for piece in buf[start..end].chunks(MAX_LINE) {
                self.emit(stream, piece).await;
            }
            start = end + 1;
        }
        buf.drain(..start);
        while buf.len() >= MAX_LINE {
            let piece: Vec<u8> = buf.drain(..MAX_LINE).collect();
            self.emit(stream, &piece).await;
        }
        *(if stderr { &mut self.err.line } else { &mut self.out.line }) = buf;
    }

    /// A line from Taskgate itself (connecting, retrying, killing).
    pub async fn system(&mut self, text: &str) {
        let text = self.run.secrets.mask_all(text);
        self.emit("system", text.as_bytes()).await;
    }

    /// Sends what the maskers held back and what is left of unterminated lines.
    pub async fn finish(&mut self) {
        for stderr in [false, true] {
            let s = if stderr { &mut self.err } else { &mut self.out };
            let held = s.masker.finish();
            self.lines(stderr, &held).await;
            let rest = std::mem::take(if stderr { &mut self.err.line } else { &mut self.out.line });
            if !rest.is_empty() {
                self.emit(if stderr { "stderr" } else { "stdout" }, &rest).await;
            }
        }
    }
}

async fn write_loop(state: AppState, fence: Fence, mut rx: mpsc::Receiver<Line>) {
    let task_id = fence.task_id;
    let mut batch: Vec<Line> = Vec::with_capacity(500);
    // Set once a write is refused (the run is another instance's now): later lines are
    // read and dropped, so that the run's steps are never held up by a full queue.
    let mut refused = 0usize;
    while let Some(first) = rx.recv().await {
        if refused > 0 {
            refused += 1;
            continue;
        }
        batch.push(first);
        // Gather what else is already queued (or arrives within 20 ms), up to 500 lines.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        while batch.len() < 500 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => batch.push(line),
                _ => break,
            }
        }
        let events: Vec<NewEvent> = batch
            .iter()
            .map(|l| NewEvent {
                task_id,
                attempt: l.attempt,
                step_index: l.step,
                host: &l.host,
                kind: "log",
                stream: l.stream,
                seq: l.seq,
                body: &l.text,
            })
            .collect();
        // Keep trying: losing log lines is worse than falling behind.
        let mut delay = Duration::from_millis(100);
        loop {
            let writing = async {
                let mut tx = state.db.begin_write().await?;
                insert_run_events(&mut tx, &fence, &events).await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            };
            let result = match tokio::time::timeout(state.runs.lease().length, writing).await {
                Ok(r) => r,
                Err(_) => Err(StoreError::TimedOut(state.runs.lease().length)),
            };
            // A run this instance lost keeps nothing more: its lines would be refused.
            if result.is_err() && state.runs.lost(task_id, fence.attempt) {
                refused = events.len();
                tracing::warn!(task = task_id, attempt = fence.attempt, "log lines of a lost run were dropped");
                break;
            }
            match result {
                Ok(()) => break,
                Err(StoreError::Fenced { .. }) => {
                    refused = events.len();
                    let n = state.runs.count_fenced(task_id, fence.attempt);
                    tracing::warn!(
                        task = task_id,
                        attempt = fence.attempt,
                        fenced_writes = n,
                        "log lines of a run this instance no longer owns were refused"
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!(task = task_id, error = %e, "writing log lines failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        drop(events);
        batch.clear();
        state.events.notify(task_id);
    }
    if refused > 0 {
        tracing::warn!(
            task = task_id,
            attempt = fence.attempt,
            lines = refused,
            "log lines dropped: the run was not this instance's any more"
        );
    }
}
