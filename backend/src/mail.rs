//! Email notifications: approval requested → approvers; task finished → submitter and
//! associated users.
//!
//! Messages are written to the `mail_outbox` table in the same transaction as the change
//! they announce, and a background mailer sends them over SMTP (lettre). A failed send is
//! retried with exponential backoff and recorded; nothing here can delay or fail a task.

use std::time::Duration;

use api_types::{MailRecord, Scope, TaskStatus};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sqlx::AnyConnection;

use crate::accounts::Principal;
use crate::error::ServiceResult;
use crate::state::AppState;
use crate::store::integrations::{self as store, MailRow};
use crate::store::{self as db, from_json, now_ms, rfc3339, tasks::TaskRow, to_json};

/// Attempts before a message is marked failed (the last ones an hour apart).
const MAX_ATTEMPTS: i64 = 15;
/// The longest one SMTP send may take; a claim holds the message longer than that.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
const LEASE_MS: i64 = 60_000;
/// Waits between attempts: 2 s, 4 s, 8 s, … at most an hour.
fn backoff_ms(attempt: i64) -> i64 {
    (1000i64 << attempt.clamp(1, 12)).min(3_600_000)
}

fn task_link(state: &AppState, id: i64) -> String {
    let base = state.settings.public_url.clone().unwrap_or_else(|| format!("http://{}", state.settings.bind));
    format!("{}/tasks/{id}", base.trim_end_matches('/'))
}

/// Writes one message to the outbox (when SMTP is configured and someone is to be told).
async fn queue(
    conn: &mut AnyConnection,
    state: &AppState,
    kind: &str,
    task_id: i64,
    recipients: Vec<String>,
    subject: String,
    body: String,
) -> ServiceResult<()> {
    let recipients: Vec<String> = recipients
        .into_iter()
        .filter(|r| {
            let ok = r.parse::<Mailbox>().is_ok();
            if !ok {
                tracing::warn!(task = task_id, recipient = r, "not a mail address: left out of the notification");
            }
            ok
        })
        .collect();
    if state.settings.smtp_url.is_none() || recipients.is_empty() {
        return Ok(());
    }
    store::enqueue_mail(conn, kind, Some(task_id), &to_json(&recipients), &subject, &body).await?;
    Ok(())
}

/// Addresses of users allowed to approve a task of `submitter` (approvers, admins and
/// members of the template's approver group), the submitter left out.
/// Empty when mail is off; a failure to read the users is logged, never returned.
pub async fn approvers(state: &AppState, approver_group: Option<&str>, submitter: &str) -> Vec<String> {
    if state.settings.smtp_url.is_none() {
        return vec![];
    }
    let users = match db::users::list_enabled(&state.db).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the approvers to notify");
            return vec![];
        }
    };
    let mut to = vec![];
    for u in users {
        let in_group = approver_group.is_some_and(|g| u.groups().map(|gs| gs.iter().any(|x| x == g)).unwrap_or(false));
        let approver = u.role().is_ok_and(|r| r >= api_types::Role::Approver);
        if u.username != submitter && !u.email.is_empty() && (approver || in_group) {
            to.push(u.email.clone());
        }
    }
    to.sort();
    to.dedup();
    to
}

/// Queues "approval requested" for task `id` (call inside the transaction that stores it).
pub async fn approval_requested(
    conn: &mut AnyConnection,
    state: &AppState,
    id: i64,
    task: &TaskRow,
    recipients: Vec<String>,
) -> ServiceResult<()> {
    let link = task_link(state, id);
    let subject = format!("[Taskgate] Approval requested: #{id} {}", task.name);
    let body = format!(
        "{} asks for approval of task #{id} \"{}\" (template {}).\n\nRuns at: {}\nDetails: {}\n\nReview it: {link}\n",
        task.submitter,
        task.name,
        task.template_name,
        rfc3339(task.exec_time),
        if task.details.is_empty() { "-" } else { &task.details },
    );
    queue(conn, state, "approval_requested", id, recipients, subject, body).await
}

/// Queues "task finished" for a task that ended `success`, `failed` or `aborted`, to its
/// submitter and associated users (names of users, or addresses), in a transaction of its
/// own after the status is stored. Failures are logged: a run's end never depends on mail.
pub async fn task_finished(state: &AppState, task_id: i64, status: TaskStatus) {
    if !matches!(status, TaskStatus::Success | TaskStatus::Failed | TaskStatus::Aborted)
        || state.settings.smtp_url.is_none()
    {
        return;
    }
    let queued = async {
        let task = db::tasks::get(&state.db, task_id).await?;
        let (to, subject, body) = finished_message(state, &task, status).await?;
        let mut tx = state.db.begin_write().await?;
        queue(&mut tx, state, "task_finished", task.id, to, subject, body).await?;
        tx.commit().await?;
        ServiceResult::Ok(())
    };
    match queued.await {
        Ok(()) => state.mail_queued.notify_one(),
        Err(e) => tracing::warn!(task = task_id, error = %e, "could not queue the task's notification"),
    }
}

async fn finished_message(
    state: &AppState,
    task: &TaskRow,
    status: TaskStatus,
) -> ServiceResult<(Vec<String>, String, String)> {
    let associated: Vec<String> = from_json("tasks.associated_users", &task.associated_users)?;
    let users = db::users::list_enabled(&state.db).await?;
    let mut to = vec![];
    // Mail goes to Taskgate's own (enabled) users only, named or by their address: a
    // submitter cannot make the server write to any address with a text they chose.
    for name in std::iter::once(&task.submitter).chain(associated.iter()) {
        let user = users.iter().find(|u| {
            !u.email.is_empty() && (&u.username == name || (name.contains('@') && u.email.eq_ignore_ascii_case(name)))
        });
        if let Some(u) = user {
            to.push(u.email.clone());
        }
    }
    to.sort();
    to.dedup();
    let link = task_link(state, task.id);
    let subject = format!("[Taskgate] Task #{} {}: {}", task.id, status.as_str(), task.name);
    let body = format!(
        "Task #{} \"{}\" (template {}) ended: {}.\n\nSee its steps and logs: {link}\n",
        task.id,
        task.name,
        task.template_name,
        status.as_str()
    );
    Ok((to, subject, body))
}

pub async fn list(state: &AppState, who: &Principal, task_id: Option<i64>) -> ServiceResult<Vec<MailRecord>> {
    who.require(Scope::Admin)?;
    store::list_mail(&state.db, task_id, 500)
        .await?
        .into_iter()
        .map(|m| {
            Ok(MailRecord {
                id: m.id,
                kind: m.kind,
                task_id: m.task_id,
                recipients: from_json("mail_outbox.recipients", &m.recipients)?,
                subject: m.subject,
                status: m.status,
                attempts: m.attempts,
                last_error: m.last_error,
                created_at: rfc3339(m.created_at),
                sent_at: m.sent_at.map(rfc3339),
            })
        })
        .collect()
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

fn build(row: &MailRow, from: &Mailbox) -> Result<Message, String> {
    let recipients: Vec<String> = serde_json::from_str(&row.recipients).map_err(|e| e.to_string())?;
    let mut message = Message::builder().from(from.clone()).subject(row.subject.clone());
    for r in &recipients {
        // Addresses were checked when queued; one that went bad since is left out.
        match r.parse::<Mailbox>() {
            Ok(m) => message = message.to(m),
            Err(e) => tracing::warn!(mail = row.id, recipient = r, error = %e, "recipient left out"),
        }
    }
    message.header(ContentType::TEXT_PLAIN).body(row.body.clone()).map_err(|e| e.to_string())
}

/// Sends what is due, then sleeps until the next retry or until mail is queued.
/// Runs for the life of the server; does nothing when `TASKGATE_SMTP_URL` is unset.
pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let Some(url) = state.settings.smtp_url.clone() else { return };
    let transport: Transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret()) {
        Ok(b) => b.timeout(Some(SEND_TIMEOUT)).build(),
        Err(e) => {
            tracing::error!(error = %e, "TASKGATE_SMTP_URL is not a usable SMTP URL: no mail will be sent");
            return;
        }
    };
    let from: Mailbox = match state.settings.mail_from.parse() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, from = state.settings.mail_from, "TASKGATE_MAIL_FROM is not an address: no mail will be sent");
            return;
        }
    };
    loop {
        let queued = state.mail_queued.notified();
        let wait = match send_due(&state, &transport, &from).await {
            Ok(()) => match store::next_mail_due(&state.db).await {
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64),
                Ok(None) => Duration::from_secs(60),
                Err(e) => {
                    tracing::warn!(error = %e, "mailer could not read the outbox");
                    Duration::from_secs(5)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "mailer could not read the outbox");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = queued => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn send_due(state: &AppState, transport: &Transport, from: &Mailbox) -> ServiceResult<()> {
    for row in store::due_mail(&state.db, now_ms(), 50).await? {
        let attempt = row.attempts + 1;
        if !store::claim_mail(&state.db, row.id, row.attempts, now_ms() + LEASE_MS).await? {
            continue; // another instance has it
        }
        let outcome = match build(&row, from) {
            Ok(message) => transport.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => {
                // A message that cannot be built never will be: give up at once.
                store::mail_failed(&state.db, row.id, attempt, &e, now_ms(), true).await?;
                tracing::error!(mail = row.id, error = e, "notification cannot be built");
                continue;
            }
        };
        match outcome {
            Ok(()) => {
                store::mail_sent(&state.db, row.id, attempt).await?;
                tracing::info!(mail = row.id, kind = row.kind, task = ?row.task_id, "notification sent");
            }
            Err(e) => {
                let give_up = attempt >= MAX_ATTEMPTS;
                store::mail_failed(&state.db, row.id, attempt, &e, now_ms() + backoff_ms(attempt), give_up).await?;
                tracing::warn!(mail = row.id, attempt, give_up, error = e, "notification not sent");
            }
        }
    }
    Ok(())
}
