//! The dashboard: counts by status, recent tasks, and approvals waiting for me.

use api_types::{Role, StatusCount, TaskPage};
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, number, status_text};
use crate::i18n::*;
use crate::pages::tasks::TaskTable;
use crate::session::use_session;

#[component]
pub fn Dashboard() -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let counts = LocalResource::new(|| api::get::<Vec<StatusCount>>("/tasks/counts"));
    let recent = LocalResource::new(|| api::get::<TaskPage>("/tasks?per_page=10"));
    let pending = LocalResource::new(|| api::get::<TaskPage>("/tasks?status=new&per_page=50"));
    // Submissions, decisions and runs anywhere show up here as they happen.
    crate::live::refresh_on_change(
        |_| true,
        move || {
            counts.refetch();
            recent.refetch();
            pending.refetch();
        },
    );
    let me = session.username_now();
    let mine = move || {
        let me = me.clone();
        loaded(pending.get(), move |page: TaskPage| {
            let items: Vec<_> = page.items.into_iter().filter(|t| t.submitter != me).collect();
            if items.is_empty() {
                view! { <p class="muted">{t!(i18n, tasks.dashboard.nothing_waits)}</p> }.into_any()
            } else {
                view! { <TaskTable items=items /> }.into_any()
            }
        })
    };
    view! {
        <h1>{t!(i18n, tasks.dashboard.title)}</h1>
        <section class="counts">
            {move || loaded(counts.get(), |counts: Vec<StatusCount>| {
                counts
                    .into_iter()
                    .map(|c| {
                        let s = c.status.as_str();
                        view! {
                            <a class=format!("count st-{s}") href=format!("/tasks?status={s}")
                                data-testid=format!("count-{s}")>
                                <span class="n">{number(c.count)}</span>
                                <span>{status_text(s)}</span>
                            </a>
                        }
                    })
                    .collect_view()
            })}
        </section>
        <div class="split">
            {move || session.has(Role::Approver).then(|| view! {
                <section class="card">
                    <h2>{t!(i18n, tasks.dashboard.waiting_for_me)}</h2>
                    {mine.clone()}
                    <p><a href="/approvals">{t!(i18n, tasks.dashboard.open_queue)}</a></p>
                </section>
            })}
            <section class="card wide">
                <h2>{t!(i18n, tasks.dashboard.recent)}</h2>
                {move || loaded(recent.get(), |page: TaskPage| view! { <TaskTable items=page.items /> })}
                <p><a href="/tasks">{t!(i18n, tasks.dashboard.all_tasks)}</a></p>
            </section>
        </div>
    }
}
