//! The live stream of all tasks: an event whenever a task is submitted, edited, decided,
//! started or finished, so lists and counters stay current without polling.
//!
//! It reads the database once a second (tasks changed since a moment) rather than
//! listening to this instance alone: a change made by another instance is seen as soon.

use std::collections::HashMap;
use std::time::Duration;

use api_types::{Scope, TaskChange};
use futures_util::Stream as FutStream;

use crate::accounts::{self, Principal};
use crate::error::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::{self, rfc3339};

/// How far back each look reaches: a change stamped by an instance whose clock is behind
/// by up to this much is still seen.
const SKEW_MS: i64 = 5_000;
/// Rows read per look; more changes than this within the window are sent next time.
const BATCH: i64 = 500;
/// The time between looks.
const PERIOD: Duration = Duration::from_secs(1);

struct Follow {
    _guard: crate::state::StreamGuard,
    state: AppState,
    who: Principal,
    /// Start of the window looked at.
    since: i64,
    /// What each task in the window looked like at the last look: `(status, updated_at)`.
    seen: HashMap<i64, (api_types::TaskStatus, i64)>,
    buf: std::collections::VecDeque<TaskChange>,
}

/// Changes from now on (what exists already is not repeated).
pub async fn follow(
    state: &AppState,
    who: &Principal,
) -> ServiceResult<impl FutStream<Item = TaskChange> + Send + 'static> {
    who.require(Scope::Read)?;
    let guard = state.streams.open(who.user_id).ok_or_else(|| {
        ServiceError::Busy(
            api_types::Message::new(
                "{user} already has {max} live streams open; close one (or wait for it to end) first",
            )
            .arg("user", &who.username)
            .arg("max", crate::state::MAX_STREAMS_PER_USER),
        )
    })?;
    let since = store::tasks::last_change(&state.db).await?.saturating_sub(SKEW_MS);
    let seen = store::tasks::changed_since(&state.db, since, BATCH)
        .await?
        .into_iter()
        .map(|(id, status, at)| (id, (status, at)))
        .collect();
    let f = Follow { _guard: guard, state: state.clone(), who: who.clone(), since, seen, buf: Default::default() };
    Ok(futures_util::stream::unfold(f, |mut f| async move {
        loop {
            if let Some(c) = f.buf.pop_front() {
                return Some((c, f));
            }
            // One look a second, whatever happens meanwhile: a run's log lines wake nothing
            // here, and a thousand open lists cost a thousand small reads a second.
            tokio::time::sleep(PERIOD).await;
            match accounts::tokens::recheck(&f.state, &f.who).await {
                Ok(()) => {}
                Err(ServiceError::Unauthorized(_)) => return None,
                Err(e) => tracing::warn!(error = ?e.to_string(), "checking a stream's credential failed"),
            }
            match store::tasks::changed_since(&f.state.db, f.since, BATCH).await {
                Ok(rows) => {
                    for (id, status, at) in &rows {
                        if f.seen.get(id) != Some(&(*status, *at)) {
                            f.buf.push_back(TaskChange { id: *id, status: *status, updated_at: rfc3339(*at) });
                        }
                    }
                    // A change stamped by a clock ahead of ours must not carry the window
                    // past what other instances are still writing.
                    let now = crate::clock::now_ms();
                    let latest = rows.iter().map(|r| r.2).max().unwrap_or(f.since).min(now);
                    // Slide the window, keeping what it still covers.
                    let since =
                        if rows.len() as i64 == BATCH { latest } else { latest.saturating_sub(SKEW_MS).max(f.since) };
                    f.seen.retain(|_, (_, at)| *at >= since);
                    for (id, status, at) in rows {
                        if at >= since {
                            f.seen.insert(id, (status, at));
                        }
                    }
                    f.since = since;
                }
                Err(e) => tracing::warn!(error = %e, "reading changed tasks failed"),
            }
        }
    }))
}
