//! The audit log: who did what to which object, when, from where.

use api_types::AuditPage;
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, local_time, Field, Pager};
use crate::i18n::*;

const PER_PAGE: i64 = 50;

#[component]
pub fn Audit() -> impl IntoView {
    let i18n = use_i18n();
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let page = RwSignal::new(1i64);
    let applied = RwSignal::new((String::new(), String::new()));
    let events = LocalResource::new(move || {
        let (a, act) = applied.get();
        let p = page.get();
        async move {
            // Only the filters given: a blank one means any.
            let mut path = format!("/audit?page={p}&per_page={PER_PAGE}");
            for (name, value) in [("actor", &a), ("action", &act)] {
                if !value.trim().is_empty() {
                    path.push_str(&format!("&{name}={}", api::q(value.trim())));
                }
            }
            api::get::<AuditPage>(&path).await
        }
    });
    let total = Signal::derive(move || events.get().and_then(Result::ok).map_or(0, |p| p.total));
    let filter = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        page.set(1);
        applied.set((actor.get_untracked(), action.get_untracked()));
    };
    view! {
        <h1>{t!(i18n, admin.audit.title)}</h1>
        <div class="card">
            <form class="filters row" on:submit=filter>
                <Field label=t_string!(i18n, admin.audit.actor) value=actor />
                <Field label=t_string!(i18n, admin.audit.action) value=action placeholder="task.approve" />
                <button type="submit">{t!(i18n, admin.audit.filter)}</button>
            </form>
            {move || events.get().and_then(Result::ok).is_some_and(|p| p.items.is_empty()).then(|| view! {
                <p class="muted" data-testid="empty">{t!(i18n, admin.audit.none)}</p>
            })}
            {move || loaded(events.get(), move |p: AuditPage| view! {
                <table>
                    <thead><tr>
                        <th>{t!(i18n, admin.audit.when)}</th>
                        <th>{t!(i18n, admin.audit.who)}</th>
                        <th>{t!(i18n, admin.audit.did)}</th>
                        <th>{t!(i18n, admin.audit.to)}</th>
                        <th>{t!(i18n, admin.audit.detail)}</th>
                        <th>{t!(i18n, admin.audit.from)}</th>
                    </tr></thead>
                    <tbody>
                        {p.items.into_iter().map(|e| view! {
                            <tr>
                                <td class="nowrap">{local_time(&e.at)}</td>
                                <td>{e.actor.clone()}</td>
                                <td><code>{e.action.clone()}</code></td>
                                <td><code>{e.object_type.clone()}</code>{format!(" {}", e.object_id)}</td>
                                <td class="mono small">{e.detail.to_string()}</td>
                                <td>{e.remote_addr.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            <Pager page=page per_page=PER_PAGE total=total />
        </div>
    }
}
