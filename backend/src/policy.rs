//! Rules an admin changes at run time (stored in the database, shared by every instance).

use api_types::Scope;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::Principal;
use crate::audit;
use crate::error::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, poem_openapi::Object)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// When true, the submitter of a task may also approve it (four eyes off).
    pub allow_self_approval: bool,
    /// Unanswered approval requests expire after this many seconds (1–2592000); none =
    /// never. A template's own timeout takes precedence.
    #[oai(validator(minimum(value = "1"), maximum(value = "2592000")))]
    pub approval_timeout_secs: Option<i64>,
}

const KEY: &str = "policy";

pub async fn get(state: &AppState) -> ServiceResult<Policy> {
    Ok(match store::misc::get_setting(&state.db, KEY).await? {
        Some(text) => store::from_json("server_settings.policy", &text)?,
        None => Policy::default(),
    })
}

pub async fn read(state: &AppState, who: &Principal) -> ServiceResult<Policy> {
    who.require(Scope::Read)?;
    get(state).await
}

pub async fn put(state: &AppState, who: &Principal, policy: Policy) -> ServiceResult<Policy> {
    who.require(Scope::Admin)?;
    if let Some(t) = policy.approval_timeout_secs {
        if !(1..=30 * 86_400).contains(&t) {
            return Err(ServiceError::validation("approval_timeout_secs", "must be between 1 and 2592000 seconds"));
        }
    }
    let mut tx = state.db.begin_write().await?;
    store::misc::put_setting(&mut tx, KEY, &store::to_json(&policy)).await?;
    audit::record(&mut tx, who, "policy.update", "policy", KEY, json!(policy)).await?;
    tx.commit().await?;
    Ok(policy)
}
