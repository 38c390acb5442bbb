//! Integrations: GitLab rules and the webhook's answer, and the record of mail sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Schedule;

/// A GitLab rule: tags of `project` matching `tag_pattern` create a task from the template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct GitlabRule {
    pub id: i64,
    pub name: String,
    /// The project's full path, as GitLab sends it (`group/app`).
    pub project: String,
    /// A regular expression searched in the tag name, e.g. `^release-`.
    pub tag_pattern: String,
    pub template_id: i64,
    /// Parameter key → text rendered for each push; `{{ tag }}`, `{{ project }}`,
    /// `{{ commit }}` and `{{ user }}` are available. `TAG` is the tag unless mapped here.
    pub args: BTreeMap<String, String>,
    pub hosts: BTreeMap<String, Vec<String>>,
    pub schedule: Schedule,
    pub enabled: bool,
    /// The user the tasks are submitted as (who last saved the rule).
    pub owner: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct GitlabRuleInput {
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    /// The project's full path (`group/app`); surrounding whitespace and slashes are
    /// dropped, and at most 255 bytes may remain.
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 1)))]
    pub project: String,
    /// A regular expression (Rust `regex` syntax) searched in the tag name, 1–500 bytes.
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 1, max_length = 500)))]
    pub tag_pattern: String,
    pub template_id: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub args: BTreeMap<String, String>,
    /// Host group (`"1"`, `"2"`, …) → 1–10000 hosts, for each group the template's steps
    /// name and no other: a registered host's name, a DNS name or an IP address,
    /// optionally as `user@host` or `host:port` (surrounding whitespace is dropped).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub hosts: BTreeMap<String, Vec<String>>,
    pub schedule: Schedule,
    /// The webhook's secret token (X-Gitlab-Token): at least 16 characters and at most
    /// 256 bytes. Required when creating; absent when replacing keeps the old one. Never
    /// shown again.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 16, max_length = 256)))]
    pub secret: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// What the webhook did with an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct HookAnswer {
    /// `created` or `ignored`.
    pub status: String,
    pub reason: String,
    /// Tasks created, one per matching rule.
    pub tasks: Vec<i64>,
}

/// One notification as recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MailRecord {
    pub id: i64,
    /// `approval_requested` or `task_finished`.
    pub kind: String,
    pub task_id: Option<i64>,
    pub recipients: Vec<String>,
    pub subject: String,
    /// `pending` (not sent yet, retried with backoff), `sent` or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}
