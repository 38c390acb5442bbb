//! Commands: named shell bodies with minijinja placeholders.

use api_types::{validate, Command, CommandInput, Message, Scope};
use serde_json::json;

use super::{body_params, check_body, check_timeout};
use crate::accounts::Principal;
use crate::audit;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::catalogue::{self as store, CommandRow, Kind};
use crate::store::rfc3339;

fn to_api(row: CommandRow) -> ServiceResult<Command> {
    let params = body_params("body", &row.body)?.into_iter().collect();
    Ok(Command {
        id: row.id,
        name: row.name,
        body: row.body,
        interpreter: row.interpreter,
        timeout_secs: row.timeout_secs,
        description: row.description,
        params,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

pub fn check_interpreter(field: &str, interpreter: &str) -> ServiceResult<()> {
    let ok = !interpreter.is_empty()
        && interpreter.len() <= 64
        && interpreter.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::validation(field, "must be a program name or path such as bash, sh or /usr/bin/python3"))
    }
}

fn to_row(id: i64, input: CommandInput) -> ServiceResult<CommandRow> {
    validate::name("name", &input.name)?;
    if input.body.trim().is_empty() {
        return Err(ServiceError::validation("body", "must not be empty"));
    }
    validate::text("body", &input.body, 64 * 1024)?;
    let interpreter = input.interpreter.unwrap_or_else(|| "bash".into());
    check_interpreter("interpreter", &interpreter)?;
    // As a `raw_params` template would use it: the templates that use the command are
    // checked in their own mode when they are saved, and again below.
    check_body("body", &input.body, &interpreter, true)?;
    let timeout_secs = input.timeout_secs.unwrap_or(600);
    check_timeout("timeout_secs", timeout_secs)?;
    let description = input.description.unwrap_or_default();
    validate::text("description", &description, 4000)?;
    Ok(CommandRow {
        id,
        name: input.name,
        body: input.body,
        interpreter,
        timeout_secs,
        description,
        created_at: 0,
        updated_at: 0,
    })
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<Command>> {
    who.require(Scope::Read)?;
    store::list_commands(&state.db).await?.into_iter().map(to_api).collect()
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Command> {
    who.require(Scope::Read)?;
    to_api(store::get_command(&state.db, id).await.or_not_found("command", id)?)
}

/// Creates (`id == None`) or replaces a command.
pub async fn save(state: &AppState, who: &Principal, id: Option<i64>, input: CommandInput) -> ServiceResult<Command> {
    who.require(Scope::Admin)?;
    let row = to_row(id.unwrap_or(0), input)?;
    if row.id != 0 {
        super::templates::check_command_users(state, &row).await?;
    }
    let mut tx = state.db.begin_write().await?;
    let id = store::save_command(&mut tx, &row).await.or_not_found("command", row.id)?;
    let action = if row.id == 0 { "command.create" } else { "command.update" };
    audit::record(&mut tx, who, action, "command", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    let row = store::get_command(&state.db, id).await.or_not_found("command", id)?;
    let users = super::templates::templates_using_command(state, id).await?;
    if !users.is_empty() {
        return Err(ServiceError::Conflict(
            Message::new("command {id} is used by template(s) {templates}; remove it from them first")
                .arg("id", id)
                .arg("templates", users.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ")),
        ));
    }
    let mut tx = state.db.begin_write().await?;
    store::delete(&mut tx, Kind::Command, id).await.or_not_found("command", id)?;
    audit::record(&mut tx, who, "command.delete", "command", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    Ok(())
}
