//! Log lines from running steps: split into lines, secret values masked, numbered, and
//! written in batches. The channel to the writer is bounded, so a step that prints
//! faster than the database takes it is slowed down (SSH flow control holds the remote
//! side) instead of filling memory.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::state::AppState;
use crate::store::runs::{insert_events, NewEvent};

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
    masks: Arc<Vec<String>>,
}

impl RunLog {
    /// Starts the writer for task `task_id`; `secrets` are masked in every line.
    pub fn start(state: &AppState, task_id: i64, secrets: Vec<String>) -> (RunLog, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut masks: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 3).collect();
        // Longest first, so that a secret containing another is masked whole.
        masks.sort_by_key(|m| std::cmp::Reverse(m.len()));
        let writer = tokio::spawn(write_loop(state.clone(), task_id, rx));
        (RunLog { tx, masks: Arc::new(masks) }, writer)
    }

    pub fn pair(&self, attempt: i64, step: i64, host: &str) -> PairLog {
        PairLog { run: self.clone(), attempt, step, host: Arc::from(host), seq: 0, out: Vec::new(), err: Vec::new() }
    }

    fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for m in self.masks.iter() {
            if text.contains(m.as_str()) {
                text = text.replace(m.as_str(), crate::tasks::inputs::MASK);
            }
        }
        text
    }
}

/// The log of one (attempt, step, host): keeps partial lines until their newline comes.
pub struct PairLog {
    run: RunLog,
    attempt: i64,
    step: i64,
    host: Arc<str>,
    seq: i64,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl PairLog {
    async fn emit(&mut self, stream: &'static str, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let text = self.run.mask(text);
        self.seq += 1;
        let line =
            Line { attempt: self.attempt, step: self.step, host: self.host.clone(), stream, seq: self.seq, text };
        // The writer only stops when the run is over; a send error then is harmless.
        let _ = self.run.tx.send(line).await;
    }

    /// Output bytes as they arrive; complete lines are sent on.
    pub async fn data(&mut self, stderr: bool, bytes: &[u8]) {
        let mut buf = std::mem::take(if stderr { &mut self.err } else { &mut self.out });
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
        *(if stderr { &mut self.err } else { &mut self.out }) = buf;
    }

    /// A line from Taskgate itself (connecting, retrying, killing).
    pub async fn system(&mut self, text: &str) {
        self.emit("system", text.as_bytes()).await;
    }

    /// Sends what is left of unterminated lines.
    pub async fn finish(&mut self) {
        for stderr in [false, true] {
            let rest = std::mem::take(if stderr { &mut self.err } else { &mut self.out });
            if !rest.is_empty() {
                self.emit(if stderr { "stderr" } else { "stdout" }, &rest).await;
            }
        }
    }
}

async fn write_loop(state: AppState, task_id: i64, mut rx: mpsc::Receiver<Line>) {
    let mut batch: Vec<Line> = Vec::with_capacity(500);
    while let Some(first) = rx.recv().await {
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
            let result = async {
                let mut tx = state.db.begin_write().await?;
                insert_events(&mut tx, &events).await?;
                tx.commit().await?;
                Ok::<_, crate::store::StoreError>(())
            }
            .await;
            match result {
                Ok(()) => break,
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
}
