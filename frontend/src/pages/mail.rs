//! The mail record (admins): every notification, whom it went to, and whether it was sent.

use api_types::MailRecord;
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, local_time};
use crate::i18n::*;

#[component]
pub fn Mail() -> impl IntoView {
    let i18n = use_i18n();
    let mail = LocalResource::new(|| api::get::<Vec<MailRecord>>("/mail"));
    // A mail's status in the reader's language (an unknown one as it is).
    let status_text = move |status: &str| match status {
        "pending" => t_string!(i18n, admin.mail.status_pending).to_string(),
        "sent" => t_string!(i18n, admin.mail.status_sent).to_string(),
        "failed" => t_string!(i18n, admin.mail.status_failed).to_string(),
        other => other.to_string(),
    };
    view! {
        <h1>{t!(i18n, admin.mail.title)}</h1>
        <p class="muted">{t!(i18n, admin.mail.intro)}</p>
        <div class="card">
            <button type="button" on:click=move |_| mail.refetch()>{t!(i18n, admin.mail.refresh)}</button>
            {move || loaded(mail.get(), move |list: Vec<MailRecord>| {
                if list.is_empty() {
                    return view! { <p class="muted">{t!(i18n, admin.mail.empty)}</p> }.into_any();
                }
                view! {
                    <table>
                        <thead><tr>
                            <th>{t!(i18n, admin.mail.queued)}</th>
                            <th>{t!(i18n, admin.mail.subject)}</th>
                            <th>{t!(i18n, admin.mail.to)}</th>
                            <th>{t!(i18n, admin.mail.status)}</th>
                            <th>{t!(i18n, admin.mail.tries)}</th>
                            <th>{t!(i18n, admin.mail.last_error)}</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|m| view! {
                                <tr>
                                    <td class="nowrap">{local_time(&m.created_at)}</td>
                                    <td>{match m.task_id {
                                        Some(id) => {
                                            view! { <a href=format!("/tasks/{id}")>{m.subject.clone()}</a> }.into_any()
                                        }
                                        None => m.subject.clone().into_any(),
                                    }}</td>
                                    <td>{m.recipients.join(", ")}</td>
                                    <td><span class=format!("badge st-{}", match m.status.as_str() {
                                        "sent" => "success",
                                        "failed" => "failed",
                                        _ => "waiting",
                                    }) data-status=m.status.clone()>{status_text(&m.status)}</span></td>
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
