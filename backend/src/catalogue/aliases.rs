//! Parameter aliases: how an argument key is labelled, defaulted and checked.

use api_types::{validate, Alias, AliasInput, Message, ParamType, Scope};
use serde_json::json;

use crate::accounts::Principal;
use crate::audit;
use crate::crypto::Keys;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::catalogue::{self as store, AliasRow, Kind};
use crate::store::{bool_int, from_json, rfc3339, to_json};
use crate::tasks::inputs::MASK;

/// The alias as its row holds it: a secret alias's default is encrypted (`v1:…`).
fn from_row(row: AliasRow) -> ServiceResult<Alias> {
    Ok(Alias {
        id: row.id,
        param_type: ParamType::parse(&row.param_type)
            .ok_or_else(|| anyhow::anyhow!("aliases.param_type {:?} is corrupt", row.param_type))?,
        choices: from_json("aliases.choices", &row.choices)?,
        key: row.param_key,
        label: row.label,
        description: row.description,
        default: row.default_value,
        required: row.required != 0,
        pattern: row.pattern,
        min: row.min_value,
        max: row.max_value,
        secret: row.secret != 0,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

/// The rules for a parameter that has no alias: a required string.
pub fn implicit(key: &str) -> Alias {
    Alias {
        id: 0,
        key: key.to_string(),
        label: key.to_string(),
        description: String::new(),
        param_type: ParamType::String,
        default: None,
        required: true,
        pattern: None,
        min: None,
        max: None,
        choices: vec![],
        secret: false,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

fn to_row(id: i64, input: AliasInput) -> ServiceResult<Alias> {
    validate::param_key("key", &input.key)?;
    validate::name("label", &input.label)?;
    let description = input.description.unwrap_or_default();
    validate::text("description", &description, 4000)?;
    let param_type = input.param_type.unwrap_or(ParamType::String);
    if let Some(p) = &input.pattern {
        validate::pattern("pattern", p)?;
    }
    if let (Some(min), Some(max)) = (input.min, input.max) {
        if min > max {
            return Err(ServiceError::validation("min", Message::new("must not exceed max ({max})").arg("max", max)));
        }
    }
    if matches!(param_type, ParamType::Bool | ParamType::Enum | ParamType::Datetime)
        && (input.min.is_some() || input.max.is_some())
    {
        return Err(ServiceError::validation("min", "applies only to int and string parameters"));
    }
    let choices = input.choices.unwrap_or_default();
    if param_type == ParamType::Enum && choices.is_empty() {
        return Err(ServiceError::validation("choices", "an enum parameter needs at least one choice"));
    }
    if param_type != ParamType::Enum && !choices.is_empty() {
        return Err(ServiceError::validation("choices", "only enum parameters have choices"));
    }
    for (i, c) in choices.iter().enumerate() {
        if choices[..i].contains(c) {
            return Err(ServiceError::validation(
                format!("choices[{i}]"),
                Message::new("{choice} is listed twice").arg("choice", format!("{c:?}")),
            ));
        }
    }
    let alias = Alias {
        id,
        key: input.key,
        label: input.label,
        description,
        param_type,
        required: input.required.unwrap_or(input.default.is_none()),
        default: input.default,
        pattern: input.pattern.filter(|p| !p.is_empty()),
        min: input.min,
        max: input.max,
        choices,
        secret: input.secret.unwrap_or(false),
        created_at: String::new(),
        updated_at: String::new(),
    };
    if let Some(d) = &alias.default {
        validate::param_value("default", &alias, d)?;
    }
    Ok(alias)
}

/// The alias as the API shows it: a secret default is masked.
pub fn to_api(row: AliasRow) -> ServiceResult<Alias> {
    Ok(masked(from_row(row)?))
}

/// Masks the default of a secret parameter (in an alias, or in a task's snapshot).
pub fn masked(mut alias: Alias) -> Alias {
    if alias.secret && alias.default.is_some() {
        alias.default = Some(MASK.to_string());
    }
    alias
}

/// The alias as a template snapshot keeps it: a secret default stays encrypted (and is
/// encrypted if an older row still holds it in clear), so a task never stores it plain.
pub fn to_rule(keys: &Keys, row: AliasRow) -> ServiceResult<Alias> {
    let mut alias = from_row(row)?;
    if alias.secret {
        alias.default = alias.default.map(|d| if Keys::is_encrypted(&d) { d } else { keys.encrypt(&d) });
    }
    Ok(alias)
}

/// A parameter's default in clear, for filling in a value the submitter left out.
pub fn plain_default(keys: &Keys, alias: &Alias) -> ServiceResult<Option<String>> {
    match &alias.default {
        Some(d) if alias.secret && Keys::is_encrypted(d) => Ok(Some(keys.decrypt(d).map_err(anyhow::Error::new)?)),
        other => Ok(other.clone()),
    }
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<Alias>> {
    who.require(Scope::Read)?;
    store::list_aliases(&state.db).await?.into_iter().map(to_api).collect()
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Alias> {
    who.require(Scope::Read)?;
    to_api(store::get_alias(&state.db, id).await.or_not_found("alias", id)?)
}

pub async fn save(state: &AppState, who: &Principal, id: Option<i64>, mut input: AliasInput) -> ServiceResult<Alias> {
    who.require(Scope::Admin)?;
    if input.default.as_deref() == Some(MASK) {
        // A secret default sent back masked keeps the stored one.
        let stored = match id {
            Some(id) => from_row(store::get_alias(&state.db, id).await.or_not_found("alias", id)?)?,
            None => return Err(ServiceError::validation("default", "give the default itself, not the mask")),
        };
        input.default = plain_default(&state.keys, &stored)?;
    }
    let mut a = to_row(id.unwrap_or(0), input)?;
    if a.secret {
        a.default = a.default.map(|d| state.keys.encrypt(&d));
    }
    let row = AliasRow {
        id: a.id,
        param_key: a.key.clone(),
        label: a.label,
        description: a.description,
        param_type: a.param_type.as_str().to_string(),
        default_value: a.default,
        required: bool_int(a.required),
        pattern: a.pattern,
        min_value: a.min,
        max_value: a.max,
        choices: to_json(&a.choices),
        secret: bool_int(a.secret),
        created_at: 0,
        updated_at: 0,
    };
    let mut tx = state.db.begin_write().await?;
    let id = store::save_alias(&mut tx, &row).await.or_not_found("alias", row.id)?;
    let action = if row.id == 0 { "alias.create" } else { "alias.update" };
    audit::record(&mut tx, who, action, "alias", id, json!({"key": a.key})).await?;
    tx.commit().await?;
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    let row = store::get_alias(&state.db, id).await.or_not_found("alias", id)?;
    let mut tx = state.db.begin_write().await?;
    store::delete(&mut tx, Kind::Alias, id).await.or_not_found("alias", id)?;
    audit::record(&mut tx, who, "alias.delete", "alias", id, json!({"key": row.param_key})).await?;
    tx.commit().await?;
    Ok(())
}

/// Encrypts secret defaults that rows from before they were kept encrypted hold in clear.
pub async fn seal_plain_secret_defaults(state: &AppState) -> ServiceResult<usize> {
    let mut sealed = 0;
    for row in store::list_aliases(&state.db).await? {
        let plain = row.secret != 0 && row.default_value.as_deref().is_some_and(|d| !Keys::is_encrypted(d));
        if plain {
            let mut tx = state.db.begin_write().await?;
            let enc = row.default_value.as_deref().map(|d| state.keys.encrypt(d));
            store::set_alias_default(&mut tx, row.id, row.default_value.as_deref(), enc.as_deref()).await?;
            tx.commit().await?;
            sealed += 1;
        }
    }
    Ok(sealed)
}

/// Keys of secret parameters, from the aliases in force (for things that keep arguments
/// without a template snapshot: schedules, GitLab rules).
pub async fn secret_keys(state: &AppState) -> ServiceResult<Vec<String>> {
    Ok(store::list_aliases(&state.db).await?.into_iter().filter(|a| a.secret != 0).map(|a| a.param_key).collect())
}
