//! Recurring schedules: a cron expression that submits a task each time it fires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Schedule;

/// What to do with fires missed while no Taskgate instance was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum MissedPolicy {
    /// Record them, create nothing.
    Skip,
    /// Create one task for the latest missed fire.
    RunOnce,
    /// Create a task for every missed fire (at most 100).
    RunAll,
}

impl MissedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedPolicy::Skip => "skip",
            MissedPolicy::RunOnce => "run_once",
            MissedPolicy::RunAll => "run_all",
        }
    }

    pub fn parse(s: &str) -> Option<MissedPolicy> {
        [MissedPolicy::Skip, MissedPolicy::RunOnce, MissedPolicy::RunAll].into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    /// Cron expression: 5 fields (minute hour day month weekday) or 6 (with seconds first),
    /// separated by whitespace; names such as `MON` or `JAN` may stand for numbers.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[*0-9A-Za-z/,#?+\u00df\u0131\u017f\ufb00-\ufb06-]+[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+){4,5}[*0-9A-Za-z/,#?+\u00df\u0131\u017f\ufb00-\ufb06-]+[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
        ))
    )]
    pub cron: String,
    /// IANA time zone the expression is read in, as spelled in the tz database. Defaults
    /// to the server's.
    #[serde(default)]
    pub timezone: Option<String>,
    pub template_id: i64,
    /// Parameter key → value, checked as in a submission (each at most 64 KiB).
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
    /// `ready` (runs at once) or `new` (each task waits for approval).
    pub schedule: Schedule,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Defaults to `run_once`.
    #[serde(default)]
    pub missed_policy: Option<MissedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ScheduleView {
    pub id: i64,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub template_id: i64,
    /// Secret parameters are shown as `******`.
    pub args: BTreeMap<String, String>,
    pub hosts: BTreeMap<String, Vec<String>>,
    pub schedule: Schedule,
    pub enabled: bool,
    pub missed_policy: MissedPolicy,
    /// The user the tasks are submitted as (who last saved the schedule).
    pub owner: String,
    /// The next five fire times (RFC 3339, UTC); empty when disabled.
    pub next_fires: Vec<String>,
    pub last_fire_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ScheduleFire {
    pub scheduled_for: String,
    pub fired_at: String,
    /// `created` (a task was made), `missed` (recorded, not run), or `failed` (see message).
    pub outcome: String,
    pub task_id: Option<i64>,
    pub message: String,
}
