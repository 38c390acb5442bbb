//! The audit trail: every change records who did what to which object, from where.

use api_types::{AuditEvent, AuditPage, Scope};
use sqlx::AnyConnection;

use crate::accounts::Principal;
use crate::error::ServiceResult;
use crate::state::AppState;
use crate::store::{self, audit::AuditRow, now_ms, rfc3339};

/// Records a change inside the transaction that makes it.
pub async fn record(
    conn: &mut AnyConnection,
    actor: &Principal,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    detail: serde_json::Value,
) -> ServiceResult<()> {
    record_as(conn, &actor.username, &actor.remote_addr, action, object_type, object_id, detail).await
}

/// Records a change made by the server itself (`system`) or by a named non-user actor.
pub async fn record_as(
    conn: &mut AnyConnection,
    actor: &str,
    remote_addr: &str,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    detail: serde_json::Value,
) -> ServiceResult<()> {
    let row = AuditRow {
        id: 0,
        at: now_ms(),
        actor: actor.to_string(),
        action: action.to_string(),
        object_type: object_type.to_string(),
        object_id: object_id.to_string(),
        detail: detail.to_string(),
        remote_addr: remote_addr.to_string(),
    };
    store::audit::insert(conn, &row).await?;
    Ok(())
}

pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub page: i64,
    pub per_page: i64,
}

pub async fn list(state: &AppState, who: &Principal, q: AuditQuery) -> ServiceResult<AuditPage> {
    who.require(Scope::Admin)?;
    let (page, per_page) = crate::paging(q.page, q.per_page)?;
    // An empty filter means any, as a form left blank does.
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let filter = store::audit::AuditFilter {
        actor: given(q.actor),
        action: given(q.action),
        object_type: given(q.object_type),
        object_id: given(q.object_id),
        offset: (page - 1) * per_page,
        limit: per_page,
    };
    let (rows, total) = store::audit::list(&state.db, &filter).await?;
    let items = rows
        .into_iter()
        .map(|r| AuditEvent {
            id: r.id,
            at: rfc3339(r.at),
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            actor: r.actor,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            remote_addr: r.remote_addr,
        })
        .collect();
    Ok(AuditPage { items, total, page, per_page })
}
