//! Hosts: where steps run, how to log in, and the host key to expect.

use std::sync::OnceLock;

use api_types::{validate, Host, HostInput, Message, Scope};
use regex::Regex;
use serde_json::json;

use crate::accounts::Principal;
use crate::audit;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::catalogue::{self as store, HostRow, Kind};
use crate::store::{bool_int, from_json, rfc3339, to_json, StoreError};

fn to_api(row: HostRow) -> ServiceResult<Host> {
    Ok(Host {
        id: row.id,
        labels: from_json("hosts.labels", &row.labels)?,
        name: row.name,
        address: row.address,
        port: row.port,
        user: row.login_user,
        credential_id: row.credential_id,
        host_key_fingerprint: row.host_key_fingerprint,
        trust_on_first_use: row.trust_on_first_use != 0,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

/// `SHA256:` and 43 characters of unpadded base64, as `ssh-keygen -lf` prints.
fn check_fingerprint(value: &str) -> ServiceResult<()> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(validate::patterns::FINGERPRINT).expect("static regex"));
    if re.is_match(value) {
        Ok(())
    } else {
        Err(ServiceError::validation("host_key_fingerprint", "must look like SHA256:… as printed by ssh-keygen -lf"))
    }
}

async fn to_row(state: &AppState, id: i64, input: HostInput) -> ServiceResult<HostRow> {
    validate::host_entry("name", &input.name)?;
    validate::host_entry("address", &input.address)?;
    if input.address.contains('@') {
        return Err(ServiceError::validation("address", "give the login user in `user`, not in the address"));
    }
    let port = input.port.unwrap_or(22);
    if !(1..=65535).contains(&port) {
        return Err(ServiceError::validation("port", "must be between 1 and 65535"));
    }
    let user = input.user.unwrap_or_else(|| "root".into());
    validate::username("user", &user)?;
    let labels = input.labels.unwrap_or_default();
    for (i, l) in labels.iter().enumerate() {
        validate::name(&format!("labels[{i}]"), l)?;
    }
    if let Some(fp) = &input.host_key_fingerprint {
        check_fingerprint(fp)?;
    }
    if let Some(cid) = input.credential_id {
        match store::get_credential(&state.db, cid).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(ServiceError::validation(
                    "credential_id",
                    Message::new("credential {id} does not exist").arg("id", cid),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HostRow {
        id,
        name: input.name,
        address: input.address,
        port,
        login_user: user,
        labels: to_json(&labels),
        credential_id: input.credential_id,
        host_key_fingerprint: input.host_key_fingerprint,
        trust_on_first_use: bool_int(input.trust_on_first_use.unwrap_or(false)),
        created_at: 0,
        updated_at: 0,
    })
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<Host>> {
    who.require(Scope::Read)?;
    store::list_hosts(&state.db).await?.into_iter().map(to_api).collect()
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Host> {
    who.require(Scope::Read)?;
    to_api(store::get_host(&state.db, id).await.or_not_found("host", id)?)
}

pub async fn save(state: &AppState, who: &Principal, id: Option<i64>, input: HostInput) -> ServiceResult<Host> {
    who.require(Scope::Admin)?;
    let row = to_row(state, id.unwrap_or(0), input).await?;
    let mut tx = state.db.begin_write().await?;
    let id = store::save_host(&mut tx, &row).await.or_not_found("host", row.id)?;
    let action = if row.id == 0 { "host.create" } else { "host.update" };
    audit::record(&mut tx, who, action, "host", id, json!({"name": row.name, "address": row.address})).await?;
    tx.commit().await?;
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::Admin)?;
    let row = store::get_host(&state.db, id).await.or_not_found("host", id)?;
    let mut tx = state.db.begin_write().await?;
    store::delete(&mut tx, Kind::Host, id).await.or_not_found("host", id)?;
    audit::record(&mut tx, who, "host.delete", "host", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    Ok(())
}
