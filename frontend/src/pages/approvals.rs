//! The approval queue: every task waiting for approval, with approve / reject + comment.

use api_types::{Decision, Task, TaskPage, TaskSummary};
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, local_time, run, Errors, Field, FormErrors};
use crate::session::use_session;

#[component]
pub fn Approvals() -> impl IntoView {
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
        <h1>"Approvals"</h1>
        <p class="muted">"Tasks waiting for a second person. You cannot approve your own."</p>
        {move || match pending.get() {
            None => view! { <p class="muted" aria-busy="true">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="form-error" role="alert">{e.message()}</p> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => {
                view! { <p class="card muted">"Nothing is waiting for approval."</p> }.into_any()
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
    view! {
        <article class="card approval" data-testid=format!("approval-{}", task.id)>
            <h2><a href=format!("/tasks/{}", task.id)>{format!("#{} {}", task.id, task.name)}</a></h2>
            <p class="muted">
                {format!("{} · submitted by {} · runs at {}", task.template_name, task.submitter, local_time(&task.exec_time))}
            </p>
            {move || loaded(detail.get(), |t: Task| view! {
                <dl class="facts">
                    <dt>"Arguments"</dt>
                    <dd>{t.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  ")}</dd>
                    <dt>"Hosts"</dt>
                    <dd>{t.hosts.iter().map(|(g, h)| format!("{g}: {}", h.join(", "))).collect::<Vec<_>>().join("  ")}</dd>
                    <dt>"Details"</dt>
                    <dd>{t.details.clone()}</dd>
                </dl>
            })}
            <Field label="Comment" value=comment errors=errors field="comment" multiline=true />
            <FormErrors errors=errors />
            <div class="buttons">
                <button type="button" class="primary" disabled=move || busy.get() on:click=move |_| decide("approve")>
                    "Approve"
                </button>
                <button type="button" class="danger" disabled=move || busy.get() on:click=move |_| decide("reject")>
                    "Reject"
                </button>
                {own.then(|| view! { <span class="muted">"You submitted this task: approving it needs someone else unless an admin allowed it."</span> })}
            </div>
        </article>
    }
}
