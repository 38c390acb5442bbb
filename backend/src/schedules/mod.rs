//! Recurring schedules: a cron expression in a time zone that submits a task from a
//! template each time it fires. Every fire, made or missed, is recorded once.

pub mod runner;

use std::collections::BTreeMap;

use api_types::{validate, Message, MissedPolicy, Schedule, ScheduleFire, ScheduleInput, ScheduleView, Scope};
use chrono::TimeZone;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde_json::json;

use crate::accounts::{self, Principal};
use crate::audit;
use crate::catalogue::templates;
use crate::error::{NotFoundExt, ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::schedules::{self as store, ScheduleRow};
use crate::store::{self as db, from_json, rfc3339, to_json};
use crate::tasks::{self, inputs, Submission};

/// Five fields get a `0` seconds field in front: tokio-cron-scheduler reads six.
pub fn normalize_cron(expr: &str) -> String {
    let expr = expr.trim();
    if expr.split_whitespace().count() == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    }
}

/// Parses a cron expression exactly as tokio-cron-scheduler will.
pub fn parse_cron(field: &str, expr: &str) -> ServiceResult<Cron> {
    let normal = normalize_cron(expr);
    if normal.split_whitespace().count() != 6 {
        return Err(ServiceError::validation(
            field,
            "must have 5 fields (minute hour day month weekday) or 6 (seconds first)",
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(&normal)
        .map_err(|e| ServiceError::validation(field, Message::new("is not a cron expression: {error}").arg("error", e)))
}

pub fn parse_timezone(field: &str, name: &str) -> ServiceResult<chrono_tz::Tz> {
    name.parse().map_err(|_| {
        ServiceError::validation(
            field,
            Message::new("{name} is not an IANA time zone such as Asia/Shanghai").arg("name", format!("{name:?}")),
        )
    })
}

/// Fire times (ms) strictly after `after_ms`, at most `limit`, up to `until_ms` if given.
///
/// Each search starts from the previous fire, exclusive. (croner's own iterator moves a
/// second past each fire and then searches exclusively again, so a per-second cron showed
/// every other second.)
pub fn occurrences(cron: &Cron, tz: chrono_tz::Tz, after_ms: i64, until_ms: Option<i64>, limit: usize) -> Vec<i64> {
    // Whole seconds: croner keeps the start's milliseconds, and a fire's time is its key.
    let after_ms = after_ms - after_ms.rem_euclid(1000);
    let Some(mut at) = tz.timestamp_millis_opt(after_ms).single() else { return vec![] };
    let mut fires = Vec::new();
    while fires.len() < limit {
        let Ok(next) = cron.find_next_occurrence(&at, false) else { break };
        let ms = next.timestamp_millis();
        if until_ms.is_some_and(|u| ms > u) || ms <= at.timestamp_millis() {
            break;
        }
        fires.push(ms);
        at = next;
    }
    fires
}

/// How far ahead a cron must fire at least once to be accepted (leap days fire every
/// four years; a date that never comes, such as 31 February, never does).
const MUST_FIRE_WITHIN_YEARS: i64 = 8;

/// Refuses a cron expression that never fires (within eight years of `now_ms`).
pub fn check_fires(field: &str, cron: &Cron, tz: chrono_tz::Tz, now_ms: i64) -> ServiceResult<()> {
    let horizon = now_ms + MUST_FIRE_WITHIN_YEARS * 366 * 86_400_000;
    if occurrences(cron, tz, now_ms, Some(horizon), 1).is_empty() {
        return Err(ServiceError::validation(
            field,
            Message::new("never fires: no date matches it in the next {years} years")
                .arg("years", MUST_FIRE_WITHIN_YEARS),
        ));
    }
    Ok(())
}

/// The API view; values of `secret_keys` are masked.
fn to_view(state: &AppState, row: &ScheduleRow, secret_keys: &[String]) -> ServiceResult<ScheduleView> {
    let masked = open_args(state, row)?
        .into_iter()
        .map(|(k, v)| {
            let v = if secret_keys.contains(&k) { inputs::MASK.to_string() } else { v };
            (k, v)
        })
        .collect();
    let tz = parse_timezone("timezone", &row.timezone)?;
    let next_fires = if row.enabled != 0 {
        let cron = parse_cron("cron", &row.cron)?;
        occurrences(&cron, tz, db::now_ms(), None, 5).into_iter().map(rfc3339).collect()
    } else {
        vec![]
    };
    Ok(ScheduleView {
        id: row.id,
        name: row.name.clone(),
        cron: row.cron.clone(),
        timezone: row.timezone.clone(),
        template_id: row.template_id,
        args: masked,
        hosts: from_json("schedules.hosts", &row.hosts)?,
        schedule: Schedule::parse(&row.schedule).unwrap_or(Schedule::New),
        enabled: row.enabled != 0,
        missed_policy: MissedPolicy::parse(&row.missed_policy).unwrap_or(MissedPolicy::RunOnce),
        owner: row.owner.clone(),
        next_fires,
        last_fire_at: row.last_fire_at.map(rfc3339),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })
}

fn open_args(state: &AppState, row: &ScheduleRow) -> ServiceResult<BTreeMap<String, String>> {
    let text = state.keys.decrypt(&row.args_enc).map_err(anyhow::Error::new)?;
    Ok(from_json("schedules.args_enc", &text)?)
}

async fn views(state: &AppState, rows: &[ScheduleRow]) -> ServiceResult<Vec<ScheduleView>> {
    let keys = crate::catalogue::aliases::secret_keys(state).await?;
    rows.iter().map(|r| to_view(state, r, &keys)).collect()
}

pub async fn list(state: &AppState, who: &Principal) -> ServiceResult<Vec<ScheduleView>> {
    who.require(Scope::Read)?;
    views(state, &store::list(&state.db).await?).await
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> ServiceResult<ScheduleView> {
    who.require(Scope::Read)?;
    let row = store::get(&state.db, id).await.or_not_found("schedule", id)?;
    Ok(views(state, &[row]).await?.remove(0))
}

/// Creates (`id == None`) or replaces a schedule. Its tasks are submitted as the caller.
pub async fn save(
    state: &AppState,
    who: &Principal,
    id: Option<i64>,
    input: ScheduleInput,
) -> ServiceResult<ScheduleView> {
    who.require(Scope::TaskSubmit)?;
    if let Some(id) = id {
        let old = store::get(&state.db, id).await.or_not_found("schedule", id)?;
        if old.owner != who.username && !who.is_admin() {
            return Err(ServiceError::Forbidden("only its owner or an admin may change a schedule".into()));
        }
    }
    validate::name("name", &input.name)?;
    let cron = parse_cron("cron", &input.cron)?;
    let timezone = input.timezone.clone().unwrap_or_else(|| state.settings.timezone.name().to_string());
    let tz = parse_timezone("timezone", &timezone)?;
    check_fires("cron", &cron, tz, db::now_ms())?;
    // The arguments and hosts are checked now, as a submission would be.
    let snapshot = templates::snapshot_for(state, input.template_id, input.schedule).await?;
    // Secret values sent back masked keep what is stored.
    let mut args = input.args.clone();
    if let Some(id) = id {
        let stored = open_args(state, &store::get(&state.db, id).await.or_not_found("schedule", id)?)?;
        for (k, v) in args.iter_mut() {
            if v == inputs::MASK {
                if let Some(old) = stored.get(k) {
                    *v = old.clone();
                }
            }
        }
    }
    inputs::check_args(&state.keys, &snapshot, &args)?;
    let hosts = inputs::check_hosts(&snapshot, &input.hosts)?;
    let row = ScheduleRow {
        id: id.unwrap_or(0),
        name: input.name,
        cron: input.cron.trim().to_string(),
        timezone,
        template_id: input.template_id,
        args_enc: state.keys.encrypt(&to_json(&args)),
        hosts: to_json(&hosts),
        schedule: input.schedule.as_str().to_string(),
        enabled: i64::from(input.enabled.unwrap_or(true)),
        missed_policy: input.missed_policy.unwrap_or(MissedPolicy::RunOnce).as_str().to_string(),
        owner: who.username.clone(),
        last_fire_at: None,
        checked_until: 0,
        created_at: 0,
        updated_at: 0,
    };
    let mut tx = state.db.begin_write().await?;
    let id = store::save(&mut tx, &row).await.or_not_found("schedule", row.id)?;
    let action = if row.id == 0 { "schedule.create" } else { "schedule.update" };
    audit::record(
        &mut tx,
        who,
        action,
        "schedule",
        id,
        json!({"name": row.name, "cron": row.cron, "enabled": row.enabled != 0}),
    )
    .await?;
    tx.commit().await?;
    state.schedules_changed.notify_one();
    get(state, who, id).await
}

pub async fn delete(state: &AppState, who: &Principal, id: i64) -> ServiceResult<()> {
    who.require(Scope::TaskSubmit)?;
    let row = store::get(&state.db, id).await.or_not_found("schedule", id)?;
    if row.owner != who.username && !who.is_admin() {
        return Err(ServiceError::Forbidden("only its owner or an admin may delete a schedule".into()));
    }
    let mut tx = state.db.begin_write().await?;
    store::delete(&mut tx, id).await.or_not_found("schedule", id)?;
    audit::record(&mut tx, who, "schedule.delete", "schedule", id, json!({"name": row.name})).await?;
    tx.commit().await?;
    state.schedules_changed.notify_one();
    Ok(())
}

pub async fn fires(state: &AppState, who: &Principal, id: i64) -> ServiceResult<Vec<ScheduleFire>> {
    who.require(Scope::Read)?;
    store::get(&state.db, id).await.or_not_found("schedule", id)?;
    Ok(store::fires(&state.db, id, 200)
        .await?
        .into_iter()
        .map(|f| ScheduleFire {
            scheduled_for: rfc3339(f.scheduled_for),
            fired_at: rfc3339(f.fired_at),
            outcome: f.outcome,
            task_id: f.task_id,
            message: f.message,
        })
        .collect())
}

/// Records a missed fire (once).
pub async fn record_missed(state: &AppState, row: &ScheduleRow, scheduled_for: i64) -> ServiceResult<()> {
    let mut tx = state.db.begin_write().await?;
    if store::record_fire(&mut tx, row.id, scheduled_for, "missed", None, "missed while no instance was running")
        .await?
    {
        tracing::warn!(schedule = row.id, scheduled_for = %rfc3339(scheduled_for), "schedule fire missed");
    }
    tx.commit().await?;
    Ok(())
}

/// Fires `row` for `scheduled_for`: records the fire (once across instances), then
/// submits the task as the schedule's owner. Returns the task id when one was made.
pub async fn fire(state: &AppState, row: &ScheduleRow, scheduled_for: i64, note: &str) -> ServiceResult<Option<i64>> {
    let mut tx = state.db.begin_write().await?;
    if !store::record_fire(&mut tx, row.id, scheduled_for, "created", None, note).await? {
        return Ok(None);
    }
    tx.commit().await?;
    let outcome = submit_as_owner(state, row, scheduled_for).await;
    let (result, task_id, message) = match &outcome {
        Ok(id) => ("created", Some(*id), note.to_string()),
        Err(e) => ("failed", None, e.to_string()),
    };
    store::set_fire_result(&state.db, row.id, scheduled_for, result, task_id, &message).await?;
    match outcome {
        Ok(id) => {
            tracing::info!(schedule = row.id, task = id, "schedule fired");
            Ok(Some(id))
        }
        Err(e) => {
            tracing::warn!(schedule = row.id, error = ?e.to_string(), "schedule fire could not submit its task");
            Ok(None)
        }
    }
}

async fn submit_as_owner(state: &AppState, row: &ScheduleRow, scheduled_for: i64) -> ServiceResult<i64> {
    let who = accounts::service::acting_as(state, &row.owner, "schedule", "schedule").await?;
    let sub = Submission {
        // Task names hold at most 100 characters: shorten the schedule's name to fit.
        name: Some({
            let when = rfc3339(scheduled_for);
            let room = 100 - when.chars().count() - 3;
            format!("{} @ {when}", row.name.chars().take(room).collect::<String>())
        }),
        template_id: row.template_id,
        args: open_args(state, row)?,
        hosts: from_json("schedules.hosts", &row.hosts)?,
        schedule: Schedule::parse(&row.schedule).unwrap_or(Schedule::New),
        exec_time: Some(rfc3339(scheduled_for)),
        executor: None,
        details: Some(format!("created by schedule {:?} ({})", row.name, row.id)),
        associated_users: vec![],
        concurrency: None,
        external_args: vec![],
        source: "schedule",
    };
    Ok(tasks::submit(state, &who, sub).await?.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_fall_on_whole_seconds_in_the_schedules_zone() {
        let cron = parse_cron("cron", "30 2 * * *").unwrap();
        let after = 1_700_000_000_123; // 2023-11-14T22:13:20.123Z
        let next: Vec<String> =
            occurrences(&cron, chrono_tz::Asia::Shanghai, after, None, 2).into_iter().map(rfc3339).collect();
        // 02:30 in Shanghai is 18:30 UTC the day before.
        assert_eq!(next, vec!["2023-11-15T18:30:00.000Z", "2023-11-16T18:30:00.000Z"]);
    }

    #[test]
    fn a_per_second_cron_fires_every_second() {
        let cron = parse_cron("cron", "* * * * * *").unwrap();
        let after = 1_700_000_000_123;
        let got = occurrences(&cron, chrono_tz::UTC, after, None, 4);
        assert_eq!(got, vec![1_700_000_001_000, 1_700_000_002_000, 1_700_000_003_000, 1_700_000_004_000]);
        let bounded = occurrences(&cron, chrono_tz::UTC, after, Some(1_700_000_002_000), 10);
        assert_eq!(bounded, vec![1_700_000_001_000, 1_700_000_002_000]);
    }

    #[test]
    fn a_cron_that_never_fires_is_refused_and_a_leap_day_is_not() {
        let now = 1_700_000_000_000; // November 2023
        for never in ["0 0 31 2 *", "0 0 30 2 *", "0 0 0 31 4 *"] {
            let cron = parse_cron("cron", never).unwrap();
            let e = check_fires("cron", &cron, chrono_tz::UTC, now).unwrap_err();
            assert!(matches!(&e, ServiceError::Validation(f) if f.field == "cron"), "{never}: {e:?}");
        }
        let leap = parse_cron("cron", "0 0 29 2 *").unwrap();
        assert!(check_fires("cron", &leap, chrono_tz::UTC, now).is_ok());
        assert_eq!(occurrences(&leap, chrono_tz::UTC, now, None, 1), vec![1_709_164_800_000]);
        // 2024-02-29
    }

    #[test]
    fn five_fields_get_a_seconds_field() {
        assert_eq!(normalize_cron("*/5 * * * *"), "0 */5 * * * *");
        assert_eq!(normalize_cron("* * * * * *"), "* * * * * *");
        assert!(parse_cron("cron", "* * *").is_err());
    }
}
