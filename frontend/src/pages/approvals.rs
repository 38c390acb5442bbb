//! The approval queue: every task waiting for approval, with approve / reject + comment.

use api_types::{Decision, Task, TaskPage, TaskSummary};
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, local_time, run, Errors, Field, FormErrors};
use crate::i18n::*;
use crate::session::use_session;

#[component]
pub fn Approvals() -> impl IntoView {
    let i18n = use_i18n();
    let pending = LocalResource::new(|| api::get::<TaskPage>("/tasks?status=new&per_page=100"));
    // A task submitted, decided or changed anywhere joins or leaves the queue at once;
    // the cards already shown stay as they are (a comment being typed is kept).
    let shown = StoredValue::new(Vec::<i64>::new());
    crate::live::refresh_on_change(
        move |c| c.status == api_types::TaskStatus::New || shown.with_value(|s| s.contains(&c.id)),
        move || pending.refetch(),
    );
    let items = Memo::new(move |_| {
        let items = pending.get().and_then(Result::ok).map(|p| p.items);
        if let Some(items) = &items {
            shown.set_value(items.iter().map(|t| t.id).collect());
        }
        items
    });
    view! {
        <h1>{t!(i18n, tasks.approvals.title)}</h1>
        <p class="muted">{t!(i18n, tasks.approvals.intro)}</p>
        {move || match pending.get() {
            None => view! { <p class="muted" aria-busy="true">{t!(i18n, common.loading)}</p> }.into_any(),
            Some(Err(e)) => view! { <p class="form-error" role="alert">{e.message()}</p> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => {
                view! { <p class="card muted">{t!(i18n, tasks.approvals.empty)}</p> }.into_any()
            }
            Some(Ok(_)) => ().into_any(),
        }}
        <For each=move || items.get().unwrap_or_default() key=|t| t.id
            children=move |t| view! { <ApprovalCard task=t on_done=move || pending.refetch() /> } />
    }
}

#[component]
fn ApprovalCard(task: TaskSummary, on_done: impl Fn() + Copy + 'static) -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let id = task.id;
    let detail = LocalResource::new(move || async move { api::get::<Task>(&format!("/tasks/{id}")).await });
    let comment = RwSignal::new(String::new());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let own = task.submitter == session.username_now();
    let decide = move |verb: &'static str| {
        let body = Decision { comment: Some(comment.get_untracked()).filter(|c| !c.is_empty()) };
        let path = format!("/tasks/{}/{verb}", task.id);
        run(busy, errors, async move { api::post::<Task>(&path, &body).await }, move |_| on_done());
    };
    let meta = fill(
        t_string!(i18n, tasks.approvals.meta),
        &[("template", &task.template_name), ("submitter", &task.submitter), ("time", &local_time(&task.exec_time))],
    );
    view! {
        <article class="card approval" data-testid=format!("approval-{}", task.id)>
            <h2><a href=format!("/tasks/{}", task.id)>{format!("#{} {}", task.id, task.name)}</a></h2>
            <p class="muted">
                {meta}
            </p>
            {move || loaded(detail.get(), |t: Task| view! {
                <dl class="facts">
                    <dt>{t!(i18n, tasks.approvals.arguments)}</dt>
                    <dd>{t.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  ")}</dd>
                    <dt>{t!(i18n, tasks.approvals.hosts)}</dt>
                    <dd>
                        {t.hosts.iter().map(|(g, h)| format!("{g}: {}", h.join(", "))).collect::<Vec<_>>().join("  ")}
                    </dd>
                    <dt>{t!(i18n, tasks.approvals.details)}</dt>
                    <dd>{t.details.clone()}</dd>
                </dl>
            })}
            <Field label=t_string!(i18n, tasks.approvals.comment) value=comment errors=errors field="comment"
                multiline=true />
            <FormErrors errors=errors />
            <div class="buttons">
                <button type="button" class="primary" disabled=move || busy.get() on:click=move |_| decide("approve")>
                    {t!(i18n, tasks.approvals.approve)}
                </button>
                <button type="button" class="danger" disabled=move || busy.get() on:click=move |_| decide("reject")>
                    {t!(i18n, tasks.approvals.reject)}
                </button>
                {own.then(|| view! { <span class="muted">{t!(i18n, tasks.approvals.own_task)}</span> })}
            </div>
        </article>
    }
}
