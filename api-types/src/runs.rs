//! Running tasks: the state of each (step, host) pair, log lines, and the actions on a run.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum PairStatus {
    /// Not started (yet).
    Pending,
    /// Held at a `timed` or `manual` step.
    Waiting,
    Running,
    Success,
    Failed,
    Timeout,
    /// Could not connect or log in, or the connection dropped.
    Unreachable,
    Skipped,
    Aborted,
}

impl PairStatus {
    pub const ALL: [PairStatus; 9] = [
        PairStatus::Pending,
        PairStatus::Waiting,
        PairStatus::Running,
        PairStatus::Success,
        PairStatus::Failed,
        PairStatus::Timeout,
        PairStatus::Unreachable,
        PairStatus::Skipped,
        PairStatus::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PairStatus::Pending => "pending",
            PairStatus::Waiting => "waiting",
            PairStatus::Running => "running",
            PairStatus::Success => "success",
            PairStatus::Failed => "failed",
            PairStatus::Timeout => "timeout",
            PairStatus::Unreachable => "unreachable",
            PairStatus::Skipped => "skipped",
            PairStatus::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<PairStatus> {
        PairStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Finished without error (the run may go on past it).
    pub fn is_ok(self) -> bool {
        matches!(self, PairStatus::Success | PairStatus::Skipped)
    }

    /// Finished with an error.
    pub fn is_failure(self) -> bool {
        matches!(self, PairStatus::Failed | PairStatus::Timeout | PairStatus::Unreachable | PairStatus::Aborted)
    }

    /// A skip may pass over it: it failed, or it has not run yet.
    pub fn can_skip(self) -> bool {
        self.is_failure() || matches!(self, PairStatus::Pending | PairStatus::Waiting)
    }
}

impl TryFrom<String> for PairStatus {
    type Error = crate::tasks::UnknownStatus;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        PairStatus::parse(&s).ok_or(crate::tasks::UnknownStatus(s))
    }
}

/// One (step, host) pair as of its latest attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Pair {
    /// Index of the step in the template snapshot (0-based).
    pub step: i64,
    pub step_name: String,
    pub group: String,
    pub host: String,
    pub status: PairStatus,
    /// The task attempt this pair last ran in (1 for the first run, +1 per redo).
    pub attempt: i64,
    /// Tries within the attempt (1 + retries used).
    pub tries: i64,
    pub exit_code: Option<i64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why it failed, was skipped or is waiting, in words.
    pub message: String,
    /// After an abort: whether the remote process group was confirmed gone.
    pub kill_confirmed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskRun {
    pub task_id: i64,
    pub status: crate::TaskStatus,
    pub attempt: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// By step, then by host name. With `limit`, one page of them.
    pub pairs: Vec<Pair>,
    /// The task's latest event: pass it as `after` to the event stream to get only what
    /// happens next.
    pub last_event_id: i64,
    /// When `limit` cut the pairs short: pass it as `after` for the next page. After a
    /// redo began, the next page is refused (409): read again from the start.
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum Stream {
    Stdout,
    Stderr,
    /// Written by Taskgate: connection, retries, kills.
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct LogLine {
    /// Position in the task's event stream; pass it as `after` for the next page.
    pub id: i64,
    pub attempt: i64,
    pub step: i64,
    pub host: String,
    pub stream: Stream,
    /// Order of the line within its (attempt, step, host).
    pub seq: i64,
    pub text: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Pass as `after` to continue; equal to the request's `after` when nothing is new.
    pub next_after: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum RedoMode {
    /// Every pair again.
    All,
    /// Pairs that failed, timed out, were unreachable or aborted, and those never started.
    Failed,
    /// Every step on the hosts listed in `hosts`.
    Hosts,
    /// Every host, from step `step` on.
    FromStep,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct RedoRequest {
    pub mode: RedoMode,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// For `from_step` (and only there required): the step index, from 0.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "0"))))]
    pub step: Option<i64>,
}

/// Names one pair, or with no `host` every host of the step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct PairSelector {
    /// The step's index in the template snapshot, from 0.
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "0"))))]
    pub step: i64,
    #[serde(default)]
    pub host: Option<String>,
}

/// One event of a task's live stream (SSE `id` = `id`, `event` = `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskEvent {
    pub id: i64,
    /// `log` (a line), `pair` (a pair changed state) or `task` (the task changed state).
    pub kind: String,
    pub attempt: i64,
    pub step: i64,
    pub host: String,
    pub stream: Option<Stream>,
    pub seq: Option<i64>,
    pub text: Option<String>,
    /// New pair or task status.
    pub status: Option<String>,
    pub exit_code: Option<i64>,
    pub message: Option<String>,
    pub at: String,
}

/// Events of a task's live stream sent as one message (`batch=true`): the `pair` status
/// changes (SSE `event` = `pairs`) or the `log` lines (`logs`) that were ready together, in
/// order; the SSE `id` is the last one's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskEventBatch {
    pub events: Vec<TaskEvent>,
}
