//! Templates: ordered steps on numbered host groups; and the snapshot a task keeps of one.

use std::collections::{BTreeMap, BTreeSet};

use api_types::{
    validate, Alias, Message, OnFailure, Schedule, Scope, Step, StepInput, Strategy, Template, TemplateInput, Trigger,
};
use serde_json::json;

use super::{aliases, body_params, check_body, check_timeout, commands::check_interpreter};
use crate::accounts::Principal;
use crate::audit;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::catalogue::{self as store, CommandRow, Kind, TemplateRow};
use crate::store::{bool_int, from_json, rfc3339, to_json};

/// Why a `raw_params` template may not have `local` steps.
pub const LOCAL_RAW_REFUSED: &str = "a template that inserts arguments unquoted (raw_params) cannot have local steps: \
    a local step runs on the Taskgate server with the server's own rights, so a submitter's value would run there";

/// Host groups in the order they run: the order in which the steps first name them.
pub fn groups_in_order(steps: &[Step]) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for s in steps {
        if !groups.contains(&s.group) {
            groups.push(s.group.clone());
        }
    }
    groups
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Free => "free",
        Strategy::Lockstep => "lockstep",
        Strategy::Canary => "canary",
    }
}

fn parse_strategy(s: &str) -> ServiceResult<Strategy> {
    match s {
        "free" => Ok(Strategy::Free),
        "lockstep" => Ok(Strategy::Lockstep),
        "canary" => Ok(Strategy::Canary),
        other => Err(anyhow::anyhow!("templates.strategy {other:?} is corrupt").into()),
    }
}

/// Every parameter a template's steps read, given the commands they use.
fn params_of(steps: &[Step], extra: &[String], commands: &BTreeMap<i64, CommandRow>) -> ServiceResult<Vec<String>> {
    let mut params: BTreeSet<String> = extra.iter().cloned().collect();
    for (i, s) in steps.iter().enumerate() {
        if let Some(script) = &s.script {
            params.extend(body_params(&format!("steps[{i}].script"), script)?);
        }
        if let Some(c) = s.command_id.and_then(|id| commands.get(&id)) {
            params.extend(body_params(&format!("steps[{i}].command_id"), &c.body)?);
        }
    }
    Ok(params.into_iter().collect())
}

async fn commands_by_id(state: &AppState) -> ServiceResult<BTreeMap<i64, CommandRow>> {
    Ok(store::list_commands(&state.db).await?.into_iter().map(|c| (c.id, c)).collect())
}

fn to_api(row: TemplateRow, commands: &BTreeMap<i64, CommandRow>) -> ServiceResult<Template> {
    let steps: Vec<Step> = from_json("templates.steps", &row.steps)?;
    let extra_params: Vec<String> = from_json("templates.extra_params", &row.extra_params)?;
    Ok(Template {
        id: row.id,
        groups: groups_in_order(&steps),
        params: params_of(&steps, &extra_params, commands)?,
        name: row.name,
        description: row.description,
        approver_group: row.approver_group,
        approval_timeout_secs: row.approval_timeout_secs,
        require_approval: row.require_approval != 0,
        extra_params,
        raw_params: row.raw_params != 0,
        strategy: parse_strategy(&row.strategy)?,
        canary_size: row.canary_size,
        steps,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

fn check_step(i: usize, s: StepInput, commands: &BTreeMap<i64, CommandRow>, raw: bool) -> ServiceResult<Step> {
    let at = |e: api_types::FieldError| ServiceError::Validation(e.within(&format!("steps[{i}]")));
    validate::name("name", &s.name).map_err(at)?;
    validate::group("group", &s.group).map_err(at)?;
    match (&s.command_id, &s.script) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ServiceError::validation(format!("steps[{i}]"), "give exactly one of command_id and script"))
        }
        (Some(id), None) if !commands.contains_key(id) => {
            return Err(ServiceError::validation(
                format!("steps[{i}].command_id"),
                Message::new("command {id} does not exist").arg("id", id),
            ))
        }
        (None, Some(script)) => {
            if script.trim().is_empty() {
                return Err(ServiceError::validation(format!("steps[{i}].script"), "must not be empty"));
            }
            validate::text("script", script, 64 * 1024).map_err(at)?;
            check_body(&format!("steps[{i}].script"), script, INLINE_INTERPRETER, raw)?;
        }
        (Some(id), None) => {
            let c = &commands[id];
            check_body(&format!("steps[{i}].command_id"), &c.body, &c.interpreter, raw)?;
        }
    }
    if let Some(t) = s.timeout_secs {
        check_timeout(&format!("steps[{i}].timeout_secs"), t)?;
    }
    let retries = s.retries.unwrap_or(0);
    if !(0..=10).contains(&retries) {
        return Err(ServiceError::validation(format!("steps[{i}].retries"), "must be between 0 and 10"));
    }
    Ok(Step {
        name: s.name,
        group: s.group,
        command_id: s.command_id,
        script: s.script,
        timeout_secs: s.timeout_secs,
        retries,
        on_failure: s.on_failure.unwrap_or(OnFailure::Stop),
        trigger: s.trigger.unwrap_or(Trigger::Auto),
    })
}

fn to_row(id: i64, input: TemplateInput, commands: &BTreeMap<i64, CommandRow>) -> ServiceResult<TemplateRow> {
    validate::name("name", &input.name)?;
    let description = input.description.unwrap_or_default();
    validate::text("description", &description, 4000)?;
    if let Some(g) = &input.approver_group {
        validate::name("approver_group", g)?;
    }
    if let Some(t) = input.approval_timeout_secs {
        if !(1..=30 * 86_400).contains(&t) {
            return Err(ServiceError::validation("approval_timeout_secs", "must be between 1 and 2592000 seconds"));
        }
    }
    let extra_params = input.extra_params.unwrap_or_default();
    for (i, p) in extra_params.iter().enumerate() {
        validate::param_key(&format!("extra_params[{i}]"), p)?;
    }
    if input.steps.is_empty() {
        return Err(ServiceError::validation("steps", "a template needs at least one step"));
    }
    if input.steps.len() > 200 {
        return Err(ServiceError::validation("steps", "a template has at most 200 steps"));
    }
    let steps = input
        .steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| check_step(i, s, commands, input.raw_params.unwrap_or(false)))
        .collect::<ServiceResult<Vec<_>>>()?;
    if input.raw_params == Some(true) {
        if let Some(i) = steps.iter().position(|s| s.group == "local") {
            return Err(ServiceError::validation(format!("steps[{i}].group"), LOCAL_RAW_REFUSED));
        }
    }
    let strategy = input.strategy.unwrap_or(Strategy::Free);
    let canary_size = input.canary_size.unwrap_or(1);
    if !(1..=10_000).contains(&canary_size) {
        return Err(ServiceError::validation("canary_size", "must be between 1 and 10000"));
    }
    Ok(TemplateRow {
        id,
        name: input.name,
        description,
        approver_group: input.approver_group,
        approval_timeout_secs: input.approval_timeout_secs,
        require_approval: bool_int(input.require_approval.unwrap_or(false)),
        extra_params: to_json(&extra_params),
        raw_params: bool_int(input.raw_params.unwrap_or(false)),
        strategy: strategy_name(strategy).to_string(),
        canary_size,
        steps: to_json(&steps),
        created_at: 0,
        updated_at: 0,
    })
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<Template>> {
    who.require(Scope::Read)?;
    let commands = commands_by_id(state).await?;
    store::list_templates(&state.db).await?.into_iter().map(|r| to_api(r, &commands)).collect()
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Template> {
    who.require(Scope::Read)?;
    let row = store::get_template(&state.db, id).await.or_not_found("template", id)?;
    to_api(row, &commands_by_id(state).await?)
}

pub async fn save(state: &AppState, who: &Principal, id: Option<i64>, input: TemplateInput) -> ServiceResult<Template> {
    who.require(Scope::Admin)?;
    let row = to_row(id.unwrap_or(0), input, &commands_by_id(state).await?)?;
    let mut tx = state.db.begin_write().await?;
    let id = store::save_template(&mut tx, &row).await.or_not_found("template", row.id)?;
    let action = if row.id == 0 { "template.create" } else { "template.update" };
    audit::record(&mut tx, who, action, "template", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    let row = store::get_template(&state.db, id).await.or_not_found("template", id)?;
    let mut tx = state.db.begin_write().await?;
    store::delete(&mut tx, Kind::Template, id).await.or_not_found("template", id)?;
    audit::record(&mut tx, who, "template.delete", "template", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    Ok(())
}

/// The interpreter of inline `script` steps.
const INLINE_INTERPRETER: &str = "bash";

/// Checks a changed command's body as each template that uses it renders it.
pub async fn check_command_users(state: &AppState, command: &CommandRow) -> ServiceResult<()> {
    for row in store::list_templates(&state.db).await? {
        let steps: Vec<Step> = from_json("templates.steps", &row.steps)?;
        if steps.iter().any(|s| s.command_id == Some(command.id)) {
            check_body("body", &command.body, &command.interpreter, row.raw_params != 0).map_err(|e| match e {
                ServiceError::Validation(f) => ServiceError::validation(
                    f.field,
                    Message::new("as template {template} ({id}) uses it: {reason}")
                        .arg("template", format!("{:?}", row.name))
                        .arg("id", row.id)
                        .nested("reason", f.say),
                ),
                other => other,
            })?;
        }
    }
    Ok(())
}

/// Names of the templates whose steps run command `command_id`.
pub async fn templates_using_command(state: &AppState, command_id: i64) -> ServiceResult<Vec<String>> {
    let mut names = Vec::new();
    for row in store::list_templates(&state.db).await? {
        let steps: Vec<Step> = from_json("templates.steps", &row.steps)?;
        if steps.iter().any(|s| s.command_id == Some(command_id)) {
            names.push(format!("{} ({})", row.name, row.id));
        }
    }
    Ok(names)
}

pub use api_types::{Snapshot, SnapshotStep};

/// The snapshot for something that will submit tasks of template `id` with `schedule`
/// (a submission, a schedule, a GitLab rule): a missing template is an error of the
/// `template_id` field, and a template that requires approval refuses `ready`.
pub async fn snapshot_for(state: &AppState, id: i64, schedule: Schedule) -> ServiceResult<Snapshot> {
    let snapshot = match snapshot(state, id).await {
        Err(ServiceError::NotFound { .. }) => {
            return Err(ServiceError::validation(
                "template_id",
                Message::new("template {id} does not exist").arg("id", id),
            ))
        }
        other => other?,
    };
    if snapshot.require_approval && schedule == Schedule::Ready {
        return Err(ServiceError::validation(
            "schedule",
            Message::new("template {template} requires approval: use schedule \"new\"")
                .arg("template", format!("{:?}", snapshot.name)),
        ));
    }
    Ok(snapshot)
}

/// Freezes template `id` for a task.
pub async fn snapshot(state: &AppState, id: i64) -> ServiceResult<Snapshot> {
    let row = store::get_template(&state.db, id).await.or_not_found("template", id)?;
    let commands = commands_by_id(state).await?;
    let t = to_api(row, &commands)?;
    let aliases: BTreeMap<String, Alias> = store::list_aliases(&state.db)
        .await?
        .into_iter()
        .map(|row| aliases::to_rule(&state.keys, row))
        .map(|a| a.map(|a| (a.key.clone(), a)))
        .collect::<ServiceResult<_>>()?;
    let steps = t
        .steps
        .iter()
        .map(|s| {
            let command = s.command_id.and_then(|cid| commands.get(&cid));
            let (interpreter, body, default_timeout) = match (command, &s.script) {
                (Some(c), _) => (c.interpreter.clone(), c.body.clone(), c.timeout_secs),
                (None, Some(script)) => (INLINE_INTERPRETER.to_string(), script.clone(), 600),
                (None, None) => {
                    return Err(ServiceError::Conflict(
                        Message::new("template {id} step {step} refers to a command that no longer exists")
                            .arg("id", id)
                            .arg("step", format!("{:?}", s.name)),
                    ))
                }
            };
            Ok(SnapshotStep {
                name: s.name.clone(),
                group: s.group.clone(),
                command_id: s.command_id,
                interpreter,
                body,
                timeout_secs: s.timeout_secs.unwrap_or(default_timeout),
                retries: s.retries,
                on_failure: s.on_failure,
                trigger: s.trigger,
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    for s in &steps {
        check_interpreter("interpreter", &s.interpreter)?;
    }
    let params = t.params.iter().map(|k| aliases.get(k).cloned().unwrap_or_else(|| aliases::implicit(k))).collect();
    Ok(Snapshot {
        template_id: t.id,
        name: t.name,
        strategy: t.strategy,
        canary_size: t.canary_size,
        raw_params: t.raw_params,
        approver_group: t.approver_group,
        approval_timeout_secs: t.approval_timeout_secs,
        require_approval: t.require_approval,
        groups: t.groups,
        steps,
        params,
    })
}
