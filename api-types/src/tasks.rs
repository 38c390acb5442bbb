//! Tasks: submission, the approval record, listing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum TaskStatus {
    /// Waiting for approval.
    New,
    /// Approved (or submitted without approval); starts at `exec_time`.
    Ready,
    Running,
    Success,
    Failed,
    Aborted,
    Rejected,
    Cancelled,
    /// The approval request was not answered in time.
    Expired,
    /// The server stopped while the task was running.
    Interrupted,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 10] = [
        TaskStatus::New,
        TaskStatus::Ready,
        TaskStatus::Running,
        TaskStatus::Success,
        TaskStatus::Failed,
        TaskStatus::Aborted,
        TaskStatus::Rejected,
        TaskStatus::Cancelled,
        TaskStatus::Expired,
        TaskStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::New => "new",
            TaskStatus::Ready => "ready",
            TaskStatus::Running => "running",
            TaskStatus::Success => "success",
            TaskStatus::Failed => "failed",
            TaskStatus::Aborted => "aborted",
            TaskStatus::Rejected => "rejected",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Expired => "expired",
            TaskStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Over: nothing more happens to the task unless someone redoes it.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskStatus::New | TaskStatus::Ready | TaskStatus::Running)
    }

    /// A new attempt may start from here (`redo`).
    pub fn can_redo(self) -> bool {
        matches!(self, TaskStatus::Success | TaskStatus::Failed | TaskStatus::Aborted | TaskStatus::Interrupted)
    }

    /// Not started yet: it may be cancelled, or its contents changed.
    pub fn is_waiting(self) -> bool {
        matches!(self, TaskStatus::New | TaskStatus::Ready)
    }
}

/// A stored status that names none of the known ones (the row is corrupt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl std::fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown status {:?}", self.0)
    }
}

impl std::error::Error for UnknownStatus {}

impl TryFrom<String> for TaskStatus {
    type Error = UnknownStatus;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        TaskStatus::parse(&s).ok_or(UnknownStatus(s))
    }
}

/// `ready`: no approval needed; `new`: a second person must approve first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum Schedule {
    Ready,
    New,
}

impl Schedule {
    pub fn as_str(self) -> &'static str {
        match self {
            Schedule::Ready => "ready",
            Schedule::New => "new",
        }
    }

    pub fn parse(s: &str) -> Option<Schedule> {
        match s {
            "ready" => Some(Schedule::Ready),
            "new" => Some(Schedule::New),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct TaskSubmit {
    /// Defaults to the template's name, as does a blank name; otherwise 1–100 characters
    /// and no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            pattern = r"^(?:[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*|[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*)$"
        ))
    )]
    pub name: Option<String>,
    pub template_id: i64,
    /// Parameter key → value. Values are strings; ints and bools are written as text.
    /// Each is checked against its parameter's rules, and may be at most 64 KiB.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 65536)))]
    pub args: BTreeMap<String, String>,
    /// Host group (`"1"`, `"2"`, …) → 1–10000 hosts, for each group the template's steps
    /// name and no other: a registered host's name, a DNS name or an IP address,
    /// optionally as `user@host` or `host:port` (surrounding whitespace is dropped).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub hosts: BTreeMap<String, Vec<String>>,
    pub schedule: Schedule,
    /// RFC 3339, or `YYYY-mm-dd HH:MM:SS` in the server's time zone. Defaults to now.
    #[serde(default)]
    pub exec_time: Option<String>,
    /// Free text, at most 100 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 100)))]
    pub executor: Option<String>,
    /// Free text, at most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
    pub details: Option<String>,
    /// Names, each 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub associated_users: Vec<String>,
    /// Hosts worked on at once within a group, 1–1000 (default 50).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "1000"))))]
    pub concurrency: Option<i64>,
    /// Keys of `args` whose values someone other than the caller chose, such as the tag
    /// of a git push relayed by a hook. In a template that inserts arguments unquoted
    /// (`raw_params`), each needs a validation pattern, or the task is refused (422
    /// naming `args.KEY`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub external_args: Vec<String>,
}

/// Change a task that has not started. Changing an approved task asks for approval again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    /// 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: Option<String>,
    /// Parameter key → value, checked as in a submission (each at most 64 KiB).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 65536)))]
    pub args: Option<BTreeMap<String, String>>,
    /// Host group → hosts, checked as in a submission.
    #[serde(default)]
    pub hosts: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub exec_time: Option<String>,
    /// Free text, at most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
    pub details: Option<String>,
    /// Hosts worked on at once within a group, 1–1000.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "1000"))))]
    pub concurrency: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// At most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Approval {
    /// `approved` or `rejected`.
    pub decision: String,
    pub by: String,
    pub at: String,
    pub comment: String,
    /// SHA-256 (keyed) of the template snapshot, args and hosts that were approved.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Task {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    pub template_name: String,
    pub status: TaskStatus,
    pub schedule: Schedule,
    /// Secret parameters are shown as `******`.
    pub args: BTreeMap<String, String>,
    pub hosts: BTreeMap<String, Vec<String>>,
    pub submitter: String,
    pub executor: String,
    pub details: String,
    pub associated_users: Vec<String>,
    pub exec_time: String,
    pub concurrency: i64,
    /// Where the task came from: `api`, `codo`, `schedule`, `gitlab`.
    pub source: String,
    pub approval: Option<Approval>,
    /// When an unanswered approval request turns the task `expired`.
    pub approval_deadline: Option<String>,
    /// The template as it was when the task was submitted.
    pub template_snapshot: Snapshot,
    /// The digest of what the task would run now (compare with `approval.digest`).
    pub digest: String,
    /// Everyone who changed the task after it was submitted; like the submitter, none of
    /// them may approve it (unless the self-approval policy is on).
    #[serde(default)]
    pub editors: Vec<String>,
    /// What the caller may do with the task now.
    #[serde(default)]
    pub actions: Vec<TaskAction>,
    pub created_at: String,
    pub updated_at: String,
}

/// A step as a task runs it: the command body copied in, so later edits change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SnapshotStep {
    pub name: String,
    pub group: String,
    pub command_id: Option<i64>,
    pub interpreter: String,
    pub body: String,
    pub timeout_secs: i64,
    pub retries: i64,
    pub on_failure: crate::OnFailure,
    pub trigger: crate::Trigger,
}

/// Everything a task needs from its template, frozen at submission. In answers, the
/// defaults of secret parameters are masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Snapshot {
    pub template_id: i64,
    pub name: String,
    pub strategy: crate::Strategy,
    pub canary_size: i64,
    pub raw_params: bool,
    pub approver_group: Option<String>,
    pub approval_timeout_secs: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub require_approval: bool,
    pub groups: Vec<String>,
    pub steps: Vec<SnapshotStep>,
    /// The rules of every parameter, in key order (aliases, or a required string).
    pub params: Vec<crate::Alias>,
}

impl Snapshot {
    /// Groups that need hosts from the submitter (all but `local`).
    pub fn host_groups(&self) -> impl Iterator<Item = &String> {
        self.groups.iter().filter(|g| g.as_str() != "local")
    }
}

/// What the caller may do with a task now (the server applies the same rules when the
/// action is asked for). Pair actions (`skip`, `release`) further depend on each pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum TaskAction {
    Approve,
    Reject,
    Cancel,
    Edit,
    Abort,
    Redo,
    Skip,
    Release,
}

/// A row of the task list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskSummary {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    pub template_name: String,
    pub status: TaskStatus,
    pub schedule: Schedule,
    pub submitter: String,
    pub exec_time: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskPage {
    pub items: Vec<TaskSummary>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A task that changed (was submitted, decided, started, finished, edited): one event of
/// the live stream of all tasks (`GET /api/v1/tasks/changes`, SSE `event` = `task`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TaskChange {
    pub id: i64,
    pub status: TaskStatus,
    pub updated_at: String,
}

/// How many tasks are in one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct StatusCount {
    pub status: TaskStatus,
    pub count: i64,
}
