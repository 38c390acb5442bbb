//! Credentials: SSH private keys and passwords, encrypted at rest, never returned.

use api_types::{validate, Credential, CredentialInput, CredentialKind, Message, Scope};
use serde_json::json;

use crate::accounts::Principal;
use crate::audit;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::catalogue::{self as store, CredentialRow, Kind};
use crate::store::rfc3339;

fn kind_name(k: CredentialKind) -> &'static str {
    match k {
        CredentialKind::PrivateKey => "private_key",
        CredentialKind::Password => "password",
    }
}

fn to_api(row: CredentialRow) -> ServiceResult<Credential> {
    let kind = match row.kind.as_str() {
        "private_key" => CredentialKind::PrivateKey,
        "password" => CredentialKind::Password,
        other => return Err(anyhow::anyhow!("credentials.kind {other:?} is corrupt").into()),
    };
    Ok(Credential {
        id: row.id,
        name: row.name,
        kind,
        username: row.username,
        description: row.description,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

fn check(input: &CredentialInput) -> ServiceResult<()> {
    validate::name("name", &input.name)?;
    if let Some(secret) = &input.secret {
        if secret.is_empty() {
            return Err(ServiceError::validation("secret", "must not be empty"));
        }
        validate::text("secret", secret, 16 * 1024)?;
        if input.kind == CredentialKind::PrivateKey && !secret.trim_start().starts_with("-----BEGIN ") {
            return Err(ServiceError::validation("secret", "must be a PEM or OpenSSH private key (-----BEGIN …)"));
        }
    }
    if input.kind == CredentialKind::Password && input.passphrase.is_some() {
        return Err(ServiceError::validation("passphrase", "only private keys have a passphrase"));
    }
    if let Some(u) = &input.username {
        validate::username("username", u)?;
    }
    validate::text("description", input.description.as_deref().unwrap_or(""), 4000)?;
    Ok(())
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<Credential>> {
    who.require(Scope::Read)?;
    store::list_credentials(&state.db).await?.into_iter().map(to_api).collect()
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Credential> {
    who.require(Scope::Read)?;
    to_api(store::get_credential(&state.db, id).await.or_not_found("credential", id)?)
}

pub async fn save(
    state: &AppState,
    who: &Principal,
    id: Option<i64>,
    input: CredentialInput,
) -> ServiceResult<Credential> {
    who.require(Scope::Admin)?;
    check(&input)?;
    let kind = kind_name(input.kind).to_string();
    // Without a new secret the stored one stays (a change of name, user or description
    // does not ask for the key again); it cannot become a secret of another kind.
    let (secret_enc, passphrase_enc) = match (&input.secret, id) {
        (Some(secret), _) => (state.keys.encrypt(secret), input.passphrase.as_deref().map(|p| state.keys.encrypt(p))),
        (None, None) => return Err(ServiceError::validation("secret", "is required to create a credential")),
        (None, Some(id)) => {
            let stored = store::get_credential(&state.db, id).await.or_not_found("credential", id)?;
            if stored.kind != kind {
                return Err(ServiceError::validation("secret", "give the new secret when changing the kind"));
            }
            let passphrase = match &input.passphrase {
                Some(p) => Some(state.keys.encrypt(p)),
                None => stored.passphrase_enc,
            };
            (stored.secret_enc, passphrase)
        }
    };
    let row = CredentialRow {
        id: id.unwrap_or(0),
        name: input.name,
        kind,
        username: input.username,
        description: input.description.unwrap_or_default(),
        secret_enc,
        passphrase_enc,
        created_at: 0,
        updated_at: 0,
    };
    let mut tx = state.db.begin_write().await?;
    let id = store::save_credential(&mut tx, &row).await.or_not_found("credential", row.id)?;
    let action = if row.id == 0 { "credential.create" } else { "credential.update" };
    let detail = json!({"name": row.name, "kind": row.kind, "secret_changed": input.secret.is_some()});
    audit::record(&mut tx, who, action, "credential", id, detail).await?;
    tx.commit().await?;
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    let row = store::get_credential(&state.db, id).await.or_not_found("credential", id)?;
    let users = store::hosts_using_credential(&state.db, id).await?;
    if users > 0 {
        return Err(ServiceError::Conflict(
            Message::new("credential {id} is used by {count} host(s)").arg("id", id).arg("count", users),
        ));
    }
    let mut tx = state.db.begin_write().await?;
    store::delete(&mut tx, Kind::Credential, id).await.or_not_found("credential", id)?;
    audit::record(&mut tx, who, "credential.delete", "credential", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    Ok(())
}
