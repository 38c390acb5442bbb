//! Drives the schedules: one tokio-cron-scheduler job per enabled schedule, kept in step
//! with the database, plus a catch-up that applies each schedule's missed-run policy to
//! fires nobody recorded (the server was down, or a fire was dropped).

use std::collections::HashMap;
use std::time::Duration;

use api_types::MissedPolicy;
use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use super::{fire, normalize_cron, occurrences, parse_cron, parse_timezone, record_missed};
use crate::state::AppState;
use crate::store::now_ms;
use crate::store::schedules::{self as store, ScheduleRow};

/// Fires this much older than now that nobody recorded count as missed (younger ones may
/// still be on their way from the cron job).
const MISSED_AFTER_MS: i64 = 30_000;
/// At most this many missed fires are run by `run_all`; older ones are only recorded.
const RUN_ALL_LIMIT: usize = 100;

/// The scheduled time a live tick stands for: the occurrence nearest to now.
fn tick_time(row: &ScheduleRow) -> Option<i64> {
    let cron = parse_cron("cron", &row.cron).ok()?;
    let tz = parse_timezone("timezone", &row.timezone).ok()?;
    let now = now_ms();
    // tokio-cron-scheduler keeps whole seconds and may fire up to ~1.6 s early.
    occurrences(&cron, tz, now - 5_000, Some(now + 5_000), 3).into_iter().min_by_key(|t| (t - now).abs())
}

async fn on_tick(state: AppState, schedule_id: i64) {
    let Ok(row) = store::get(&state.db, schedule_id).await else { return };
    if row.enabled == 0 {
        return;
    }
    if let Some(at) = tick_time(&row) {
        if let Err(e) = fire(&state, &row, at, "").await {
            tracing::warn!(schedule = schedule_id, error = ?e.to_string(), "schedule fire failed");
        }
    }
}

/// Applies the missed-run policy to fires of `row` that nobody recorded, then moves the
/// schedule's watermark past them.
pub async fn catch_up(state: &AppState, row: &ScheduleRow) -> crate::error::ServiceResult<()> {
    if row.enabled == 0 {
        return Ok(());
    }
    let (cron, tz) = (parse_cron("cron", &row.cron)?, parse_timezone("timezone", &row.timezone)?);
    let until = now_ms() - MISSED_AFTER_MS;
    if until <= row.checked_until {
        return Ok(());
    }
    let recorded = store::recorded_between(&state.db, row.id, row.checked_until, until).await?;
    let missed: Vec<i64> = occurrences(&cron, tz, row.checked_until, Some(until), 10_000)
        .into_iter()
        .filter(|t| !recorded.contains(t))
        .collect();
    let policy = MissedPolicy::parse(&row.missed_policy).unwrap_or(MissedPolicy::RunOnce);
    let run: &[i64] = match policy {
        _ if missed.is_empty() => &[],
        MissedPolicy::Skip => &[],
        MissedPolicy::RunOnce => &missed[missed.len() - 1..],
        MissedPolicy::RunAll => &missed[missed.len().saturating_sub(RUN_ALL_LIMIT)..],
    };
    for at in &missed {
        if run.contains(at) {
            fire(state, row, *at, &format!("missed fire run late ({})", policy.as_str())).await?;
        } else {
            record_missed(state, row, *at).await?;
        }
    }
    store::set_checked_until(&state.db, row.id, until).await?;
    Ok(())
}

/// Keeps one cron job per enabled schedule; returns when `shutdown` fires.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut scheduler = match JobScheduler::new().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the cron scheduler did not start; schedules will not fire");
            return;
        }
    };
    if let Err(e) = scheduler.start().await {
        tracing::error!(error = %e, "the cron scheduler did not start; schedules will not fire");
        return;
    }
    // Schedule id → (job, the cron and zone it was made from).
    let mut jobs: HashMap<i64, (Uuid, String)> = HashMap::new();
    loop {
        match store::list(&state.db).await {
            Ok(rows) => {
                sync_jobs(&state, &scheduler, &mut jobs, &rows).await;
                for row in &rows {
                    if let Err(e) = catch_up(&state, row).await {
                        tracing::warn!(schedule = row.id, error = ?e.to_string(), "catching up missed fires failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading schedules failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = state.schedules_changed.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = scheduler.shutdown().await;
}

async fn sync_jobs(
    state: &AppState,
    scheduler: &JobScheduler,
    jobs: &mut HashMap<i64, (Uuid, String)>,
    rows: &[ScheduleRow],
) {
    let wanted: HashMap<i64, String> = rows
        .iter()
        .filter(|r| r.enabled != 0)
        .map(|r| (r.id, format!("{}|{}", normalize_cron(&r.cron), r.timezone)))
        .collect();
    let stale: Vec<i64> = jobs.iter().filter(|(id, (_, sig))| wanted.get(id) != Some(sig)).map(|(id, _)| *id).collect();
    for id in stale {
        if let Some((job, _)) = jobs.remove(&id) {
            let _ = scheduler.remove(&job).await;
        }
    }
    let missing: Vec<&ScheduleRow> = rows.iter().filter(|r| r.enabled != 0 && !jobs.contains_key(&r.id)).collect();
    for row in missing {
        let Ok(tz) = parse_timezone("timezone", &row.timezone) else { continue };
        let (state, id) = (state.clone(), row.id);
        let job = Job::new_async_tz(normalize_cron(&row.cron), tz, move |_, _| {
            let state = state.clone();
            Box::pin(on_tick(state, id))
        });
        match job {
            Ok(job) => match scheduler.add(job).await {
                Ok(uuid) => {
                    jobs.insert(row.id, (uuid, wanted[&row.id].clone()));
                }
                Err(e) => tracing::warn!(schedule = row.id, error = ?e.to_string(), "adding the cron job failed"),
            },
            Err(e) => tracing::warn!(schedule = row.id, error = ?e.to_string(), "the cron expression was refused"),
        }
    }
}
