//! GitLab: rules that map a project's tags to tasks, and the Tag Push webhook.
//!
//! A rule keeps only a keyed digest of its secret; the webhook compares the digest of
//! `X-Gitlab-Token` with it in constant time. Tasks are submitted as the rule's owner.

use std::collections::BTreeMap;

use api_types::{validate, GitlabRule, GitlabRuleInput, HookAnswer, Message, Schedule, Scope};
use regex::Regex;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{self, Principal};
use crate::audit;
use crate::catalogue::aliases;
use crate::catalogue::templates::{self, Snapshot};
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::integrations::{self as store, RuleRow};
use crate::store::{from_json, rfc3339, to_json};
use crate::tasks::{self, inputs, Submission};

/// GitLab's "no commit" id: `after` of a deleted tag, `before` of a new one.
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// The argument mapping, stored encrypted (a constant may be a secret).
fn open_args(state: &AppState, r: &RuleRow) -> ServiceResult<BTreeMap<String, String>> {
    let text = state.keys.decrypt(&r.args).map_err(anyhow::Error::new)?;
    Ok(from_json("gitlab_rules.args", &text)?)
}

fn to_api(state: &AppState, r: &RuleRow, secret_keys: &[String]) -> ServiceResult<GitlabRule> {
    let args = open_args(state, r)?
        .into_iter()
        .map(|(k, v)| {
            let v = if secret_keys.contains(&k) { inputs::MASK.to_string() } else { v };
            (k, v)
        })
        .collect();
    Ok(GitlabRule {
        id: r.id,
        name: r.name.clone(),
        project: r.project.clone(),
        tag_pattern: r.tag_pattern.clone(),
        template_id: r.template_id,
        args,
        hosts: from_json("gitlab_rules.hosts", &r.hosts)?,
        schedule: Schedule::parse(&r.schedule).unwrap_or(Schedule::New),
        enabled: r.enabled != 0,
        owner: r.owner.clone(),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    })
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<GitlabRule>> {
    who.require(Scope::Read)?;
    let keys = aliases::secret_keys(state).await?;
    store::list_rules(&state.db).await?.iter().map(|r| to_api(state, r, &keys)).collect()
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<GitlabRule> {
    who.require(Scope::Read)?;
    let keys = aliases::secret_keys(state).await?;
    to_api(state, &store::get_rule(&state.db, id).await.or_not_found("GitLab rule", id)?, &keys)
}

fn tag_regex(field: &str, pattern: &str) -> ServiceResult<Regex> {
    if pattern.is_empty() || pattern.len() > 500 {
        return Err(ServiceError::validation(field, "must be a regular expression of 1 to 500 characters"));
    }
    Regex::new(pattern).map_err(|e| {
        ServiceError::validation(field, Message::new("is not a valid regular expression: {error}").arg("error", e))
    })
}

/// The variables an argument mapping may use.
fn push_context(push: &Push) -> minijinja::Value {
    minijinja::context! {
        tag => push.tag.clone(),
        project => push.project.clone(),
        commit => push.commit.clone(),
        user => push.user.clone(),
    }
}

/// Renders the rule's argument mapping for one push; `TAG` is the tag unless mapped.
fn render_args(
    snapshot: &Snapshot,
    mapping: &BTreeMap<String, String>,
    push: &Push,
) -> ServiceResult<BTreeMap<String, String>> {
    let env = minijinja::Environment::new();
    let ctx = push_context(push);
    let mut args = BTreeMap::new();
    for (key, text) in mapping {
        let value = env.render_str(text, &ctx).map_err(|e| {
            ServiceError::validation(format!("args.{key}"), Message::new("cannot be rendered: {error}").arg("error", e))
        })?;
        args.insert(key.clone(), value);
    }
    if !args.contains_key("TAG") && snapshot.params.iter().any(|p| p.key == "TAG") {
        args.insert("TAG".into(), push.tag.clone());
    }
    Ok(args)
}

/// The arguments a push fills: the rule's mapping, and `TAG`.
fn pushed_keys(mapping: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = mapping.keys().cloned().collect();
    if !keys.iter().any(|k| k == "TAG") {
        keys.push("TAG".into());
    }
    keys
}

/// Creates (`id == None`) or replaces a rule (admins). Its tasks are submitted as the caller.
pub async fn save(
    state: &AppState,
    who: &Principal,
    id: Option<i64>,
    input: GitlabRuleInput,
) -> ServiceResult<GitlabRule> {
    who.require(Scope::Admin)?;
    let old = match id {
        Some(id) => Some(store::get_rule(&state.db, id).await.or_not_found("GitLab rule", id)?),
        None => None,
    };
    validate::name("name", &input.name)?;
    let project = input.project.trim().trim_matches('/').to_string();
    if project.is_empty() || project.len() > 255 {
        return Err(ServiceError::validation("project", "give the project's full path, e.g. group/app"));
    }
    tag_regex("tag_pattern", &input.tag_pattern)?;
    let snapshot = templates::snapshot_for(state, input.template_id, input.schedule).await?;
    // Secret values sent back masked keep what is stored.
    let mut args = input.args.clone();
    if let Some(old) = &old {
        let stored = open_args(state, old)?;
        for (k, v) in args.iter_mut() {
            if v == inputs::MASK {
                if let Some(kept) = stored.get(k) {
                    *v = kept.clone();
                }
            }
        }
    }
    inputs::check_external_args(&snapshot, &pushed_keys(&args))?;
    let env = minijinja::Environment::new();
    for (key, text) in &args {
        let field = format!("args.{key}");
        if !snapshot.params.iter().any(|p| &p.key == key) {
            let known: Vec<&str> = snapshot.params.iter().map(|p| p.key.as_str()).collect();
            return Err(ServiceError::validation(
                field,
                Message::new("the template takes no {key}; it takes: {known}")
                    .arg("key", format!("{key:?}"))
                    .arg("known", known.join(", ")),
            ));
        }
        env.template_from_str(text).map_err(|e| {
            ServiceError::validation(&field, Message::new("is not valid template text: {error}").arg("error", e))
        })?;
    }
    let hosts = inputs::check_hosts(&snapshot, &input.hosts)?;
    let secret_digest = match (&input.secret, &old) {
        (Some(secret), _) => {
            if secret.chars().count() < 16 || secret.len() > 256 {
                return Err(ServiceError::validation("secret", "must be 16 to 256 characters"));
            }
            state.keys.digest(secret.as_bytes())
        }
        (None, Some(old)) => old.secret_digest.clone(),
        (None, None) => {
            return Err(ServiceError::validation("secret", "is required: GitLab sends it as X-Gitlab-Token"))
        }
    };
    let row = RuleRow {
        id: id.unwrap_or(0),
        name: input.name,
        project,
        tag_pattern: input.tag_pattern,
        template_id: input.template_id,
        args: state.keys.encrypt(&to_json(&args)),
        hosts: to_json(&hosts),
        schedule: input.schedule.as_str().to_string(),
        secret_digest,
        enabled: i64::from(input.enabled.unwrap_or(true)),
        owner: who.username.clone(),
        created_at: 0,
        updated_at: 0,
    };
    let mut tx = state.db.begin_write().await?;
    let id = store::save_rule(&mut tx, &row).await.or_not_found("GitLab rule", row.id)?;
    let action = if row.id == 0 { "gitlab_rule.create" } else { "gitlab_rule.update" };
    let detail = json!({"name": row.name, "project": row.project, "tag_pattern": row.tag_pattern,
                        "secret_changed": input.secret.is_some()});
    audit::record(&mut tx, who, action, "gitlab_rule", id, detail).await?;
    tx.commit().await?;
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    let row = store::get_rule(&state.db, id).await.or_not_found("GitLab rule", id)?;
    let mut tx = state.db.begin_write().await?;
    store::delete_rule(&mut tx, id).await.or_not_found("GitLab rule", id)?;
    audit::record(&mut tx, who, "gitlab_rule.delete", "gitlab_rule", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    Ok(())
}

/// The parts of a GitLab Tag Push event the webhook reads (GitLab sends many more).
#[derive(Debug, Deserialize)]
pub struct TagPushEvent {
    #[serde(default)]
    pub object_kind: Option<String>,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub before: Option<String>,
    pub after: String,
    #[serde(default)]
    pub checkout_sha: Option<String>,
    pub project: EventProject,
    #[serde(default)]
    pub user_username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EventProject {
    pub path_with_namespace: String,
}

struct Push {
    tag: String,
    project: String,
    commit: String,
    user: String,
}

fn ignored(reason: impl Into<String>) -> HookAnswer {
    HookAnswer { status: "ignored".into(), reason: reason.into(), tasks: vec![] }
}

/// Handles one webhook call. `event` is the `X-Gitlab-Event` header, `token` the
/// `X-Gitlab-Token` header; `body` is the parsed JSON.
pub async fn handle_hook(
    state: &AppState,
    event: Option<&str>,
    token: Option<&str>,
    body: serde_json::Value,
    remote_addr: &str,
) -> ServiceResult<HookAnswer> {
    let kind =
        event.map(str::to_string).or_else(|| body.get("object_kind").and_then(|k| k.as_str()).map(str::to_string));
    let is_tag_push = matches!(kind.as_deref(), Some("Tag Push Hook") | Some("tag_push"));
    if !is_tag_push {
        return Ok(ignored(format!("{} events are not handled; only Tag Push", kind.as_deref().unwrap_or("untyped"))));
    }
    // Strict, as every other body: `"project": ["group/app"]` is not an object.
    let push: TagPushEvent = serde_path_to_error::deserialize(crate::http::strict::Strict(body)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing field is reported at its parent: name the field itself.
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()).map(str::to_string);
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name,
            (parent, Some(name)) => format!("{parent}.{name}"),
            (path, None) => path.to_string(),
        };
        ServiceError::validation(field, message)
    })?;
    let project = push.project.path_with_namespace.clone();
    let rules = store::project_rules(&state.db, &project).await?;
    // The token must be a rule's secret before anything is said about the project (a
    // project without rules gets the same answer as a wrong token).
    let digest = state.keys.digest(token.unwrap_or_default().as_bytes());
    let trusted: Vec<&RuleRow> = rules
        .iter()
        .filter(|r| {
            aws_lc_rs::constant_time::verify_slices_are_equal(r.secret_digest.as_bytes(), digest.as_bytes()).is_ok()
        })
        .collect();
    if token.is_none() || trusted.is_empty() {
        tracing::warn!(project, remote_addr, "GitLab webhook with a wrong or missing X-Gitlab-Token");
        return Err(ServiceError::Unauthorized(
            Message::new("X-Gitlab-Token does not match the secret of any rule of project {project}")
                .arg("project", project),
        ));
    }
    let Some(tag) = push.reference.strip_prefix("refs/tags/") else {
        return Ok(ignored(format!("{} is not a tag", push.reference)));
    };
    if push.after == ZERO_SHA {
        return Ok(ignored(format!("tag {tag} was deleted")));
    }
    if push.before.as_deref().is_some_and(|b| b != ZERO_SHA) {
        // As the server hook does: only new tags release.
        return Ok(ignored(format!("tag {tag} was moved, not created")));
    }
    let push = Push {
        tag: tag.to_string(),
        project: project.clone(),
        commit: push.checkout_sha.unwrap_or(push.after),
        user: push.user_username.unwrap_or_default(),
    };
    let (mut created, mut refused) = (vec![], vec![]);
    for rule in trusted {
        // Patterns were checked when saved; a rule made unreadable since is skipped, loudly.
        let matches = match Regex::new(&rule.tag_pattern) {
            Ok(re) => re.is_match(&push.tag),
            Err(e) => {
                tracing::warn!(rule = rule.id, error = ?e.to_string(), "GitLab rule has an invalid tag pattern");
                false
            }
        };
        if matches {
            match submit(state, rule, &push, remote_addr).await {
                Ok(id) => created.push(id),
                Err(e) => {
                    tracing::warn!(rule = rule.id, tag = push.tag, error = ?e.to_string(), "GitLab rule could not submit its task");
                    refused.push((rule.name.clone(), e));
                }
            }
        }
    }
    if created.is_empty() {
        // Nothing was made: the first refusal is the answer (e.g. 422 naming args.TAG).
        return match refused.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(ignored(format!("no rule of project {project} matches tag {}", push.tag))),
        };
    }
    tracing::info!(project, tag = push.tag, tasks = ?created, "GitLab tag push created tasks");
    let mut reason = format!("tag {} matched {} rule(s)", push.tag, created.len() + refused.len());
    for (name, e) in &refused {
        reason.push_str(&format!("; rule {name:?} refused: {e}"));
    }
    Ok(HookAnswer { status: "created".into(), reason, tasks: created })
}

async fn submit(state: &AppState, rule: &RuleRow, push: &Push, remote_addr: &str) -> ServiceResult<i64> {
    let who = accounts::service::acting_as(state, &rule.owner, "GitLab rule", remote_addr).await?;
    let snapshot = templates::snapshot(state, rule.template_id).await?;
    let mapping = open_args(state, rule)?;
    let short: String = push.commit.chars().take(12).collect();
    let sub = Submission {
        name: Some(format!("{} {}", push.project, push.tag).chars().take(100).collect()),
        template_id: rule.template_id,
        args: render_args(&snapshot, &mapping, push)?,
        hosts: from_json("gitlab_rules.hosts", &rule.hosts)?,
        schedule: Schedule::parse(&rule.schedule).unwrap_or(Schedule::New),
        exec_time: None,
        executor: None,
        details: Some(format!("GitLab tag {} pushed by {} ({short}), rule {:?}", push.tag, push.user, rule.name)),
        associated_users: vec![],
        concurrency: None,
        // A pusher chooses the tag, and the mapping renders what the push says.
        external_args: pushed_keys(&mapping),
        source: "gitlab",
    };
    Ok(tasks::submit(state, &who, sub).await?.id)
}
