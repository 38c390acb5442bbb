//! The mail record (admins): every notification, whom it went to, and whether it was sent.

use api_types::MailRecord;
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, local_time};

#[component]
pub fn Mail() -> impl IntoView {
    let mail = LocalResource::new(|| api::get::<Vec<MailRecord>>("/mail"));
    view! {
        <h1>"Mail"</h1>
        <p class="muted">
            "Notifications, newest first. Pending mail is retried with backoff until the SMTP server takes it."
        </p>
        <div class="card">
            <button type="button" on:click=move |_| mail.refetch()>"Refresh"</button>
            {move || loaded(mail.get(), |list: Vec<MailRecord>| {
                if list.is_empty() {
                    return view! { <p class="muted">"No mail yet (or TASKGATE_SMTP_URL is not set)."</p> }.into_any();
                }
                view! {
                    <table>
                        <thead><tr><th>"Queued"</th><th>"Subject"</th><th>"To"</th><th>"Status"</th><th>"Tries"</th><th>"Last error"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|m| view! {
                                <tr>
                                    <td class="nowrap">{local_time(&m.created_at)}</td>
                                    <td>{match m.task_id {
                                        Some(id) => view! { <a href=format!("/tasks/{id}")>{m.subject.clone()}</a> }.into_any(),
                                        None => m.subject.clone().into_any(),
                                    }}</td>
                                    <td>{m.recipients.join(", ")}</td>
                                    <td><span class=format!("badge st-{}", match m.status.as_str() {
                                        "sent" => "success",
                                        "failed" => "failed",
                                        _ => "waiting",
                                    })>{m.status.clone()}</span></td>
                                    <td>{m.attempts}</td>
                                    <td class="small">{m.last_error.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            })}
        </div>
    }
}
