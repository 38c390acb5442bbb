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
    pub name: String,
    pub project: String,
    pub tag_pattern: String,
    pub template_id: i64,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default)]
    pub hosts: BTreeMap<String, Vec<String>>,
    pub schedule: Schedule,
    /// The webhook's secret token (X-Gitlab-Token), at least 16 characters. Required when
    /// creating; absent when replacing keeps the old one. Never shown again.
    #[serde(default)]
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
