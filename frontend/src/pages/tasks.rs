//! The task list: status, template and submitter filters ("mine"), search and paging, kept
//! in the address.

use api_types::{TaskPage, TaskStatus, TaskSummary, Template};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::components::{loaded, local_time, status_text, Badge, Pager};
use crate::i18n::*;
use crate::session::use_session;

const PER_PAGE: i64 = 20;

/// A table of task rows, each linking to the task.
#[component]
pub fn TaskTable(items: Vec<TaskSummary>) -> impl IntoView {
    let i18n = use_i18n();
    if items.is_empty() {
        return view! { <p class="muted">{t!(i18n, tasks.list.no_tasks)}</p> }.into_any();
    }
    view! {
        <table class="tasks">
            <thead><tr>
                <th>"#"</th>
                <th>{t!(i18n, tasks.list.col_name)}</th>
                <th>{t!(i18n, tasks.list.col_template)}</th>
                <th>{t!(i18n, tasks.list.col_status)}</th>
                <th>{t!(i18n, tasks.list.col_submitter)}</th>
                <th>{t!(i18n, tasks.list.col_runs_at)}</th>
            </tr></thead>
            <tbody>
                {items.into_iter().map(|t| view! {
                    <tr data-testid=format!("task-{}", t.id)>
                        <td><a href=format!("/tasks/{}", t.id)>{t.id}</a></td>
                        <td><a href=format!("/tasks/{}", t.id)>{t.name.clone()}</a></td>
                        <td>{t.template_name.clone()}</td>
                        <td><Badge status=t.status.as_str() /></td>
                        <td>{t.submitter.clone()}</td>
                        <td class="nowrap">{local_time(&t.exec_time)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
pub fn TaskList() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let navigate = use_navigate();
    let statuses = Memo::new(move |_| {
        query
            .with(|q| q.get("status").map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>()).unwrap_or_default())
    });
    let session = use_session();
    let text = RwSignal::new(query.with_untracked(|q| q.get("q").unwrap_or_default()));
    let page = RwSignal::new(query.with_untracked(|q| q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1i64)));
    let template = RwSignal::new(query.with_untracked(|q| q.get("template").unwrap_or_default()));
    let submitter = RwSignal::new(query.with_untracked(|q| q.get("submitter").unwrap_or_default()));
    let templates = LocalResource::new(|| api::get::<Vec<Template>>("/templates"));

    let go = {
        let navigate = navigate.clone();
        move |statuses: Vec<String>, q: String, p: i64| {
            let mut parts = vec![];
            if !statuses.is_empty() {
                parts.push(format!("status={}", statuses.join(",")));
            }
            if !q.is_empty() {
                parts.push(format!("q={}", api::q(&q)));
            }
            let (t, who) = (template.get_untracked(), submitter.get_untracked());
            if !t.is_empty() {
                parts.push(format!("template={}", api::q(&t)));
            }
            if !who.trim().is_empty() {
                parts.push(format!("submitter={}", api::q(who.trim())));
            }
            if p > 1 {
                parts.push(format!("page={p}"));
            }
            navigate(&format!("/tasks?{}", parts.join("&")), Default::default());
        }
    };
    // Each part of the address as a memo, read by the fetcher below: the list is asked for
    // again whenever one of them changes (a search, a page, a status chip).
    let searched = Memo::new(move |_| query.with(|m| m.get("q").unwrap_or_default()));
    let at_page = Memo::new(move |_| query.with(|m| m.get("page").and_then(|p| p.parse().ok()).unwrap_or(1i64)));
    let of_template = Memo::new(move |_| query.with(|m| m.get("template").filter(|t| t.parse::<i64>().is_ok())));
    let of_submitter = Memo::new(move |_| query.with(|m| m.get("submitter").filter(|s| !s.is_empty())));
    let tasks = LocalResource::new(move || {
        let (s, q, p) = (statuses.get(), searched.get(), at_page.get());
        let (t, who) = (of_template.get(), of_submitter.get());
        async move {
            let mut path = format!("/tasks?status={}&q={}&page={p}&per_page={PER_PAGE}", s.join(","), api::q(&q));
            if let Some(t) = t {
                path.push_str(&format!("&template_id={t}"));
            }
            if let Some(who) = who {
                path.push_str(&format!("&submitter={}", api::q(&who)));
            }
            api::get::<TaskPage>(&path).await
        }
    });
    crate::live::refresh_on_change(|_| true, move || tasks.refetch());
    let total = Signal::derive(move || tasks.get().and_then(Result::ok).map_or(0, |p| p.total));
    {
        let go = go.clone();
        Effect::new(move |prev: Option<i64>| {
            let p = page.get();
            if prev.is_some_and(|old| old != p) {
                go(statuses.get_untracked(), text.get_untracked(), p);
            }
            p
        });
    }
    let toggle = {
        let go = go.clone();
        move |s: &'static str| {
            let mut list = statuses.get_untracked();
            match list.iter().position(|x| x == s) {
                Some(i) => {
                    list.remove(i);
                }
                None => list.push(s.to_string()),
            }
            page.set(1);
            go(list, text.get_untracked(), 1);
        }
    };
    let (go_template, go_mine) = (go.clone(), go.clone());
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        page.set(1);
        go(statuses.get_untracked(), text.get_untracked(), 1);
    };
    view! {
        <h1>{t!(i18n, tasks.list.title)}</h1>
        <div class="card">
            <form class="filters" on:submit=search>
                <div class="chips" role="group" aria-label=t_string!(i18n, tasks.list.status_filter)>
                    {TaskStatus::ALL.into_iter().map(|s| {
                        let name = s.as_str();
                        let toggle = toggle.clone();
                        view! {
                            <label class=format!("chip st-{name}")>
                                <input type="checkbox" prop:checked=move || statuses.get().iter().any(|x| x == name)
                                    on:change=move |_| toggle(name) />
                                {status_text(name)}
                            </label>
                        }
                    }).collect_view()}
                </div>
                <div class="field inline">
                    <label for="task-template">{t!(i18n, tasks.list.col_template)}</label>
                    <select id="task-template" data-testid="filter-template" on:change={
                        let go = go_template;
                        move |ev| {
                            template.set(event_target_value(&ev));
                            page.set(1);
                            go(statuses.get_untracked(), text.get_untracked(), 1);
                        }
                    }>
                        <option value="" selected=move || template.get().is_empty()>{t!(i18n, tasks.list.all_templates)}</option>
                        {move || templates.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|tpl| {
                            let id = tpl.id.to_string();
                            let selected = template.get() == id;
                            view! { <option value=id selected=selected>{tpl.name}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field inline">
                    <label for="task-submitter">{t!(i18n, tasks.list.col_submitter)}</label>
                    <input id="task-submitter" data-testid="filter-submitter" prop:value=move || submitter.get()
                        on:input=move |ev| submitter.set(event_target_value(&ev)) />
                    <label class="check">
                        <input type="checkbox" data-testid="filter-mine"
                            prop:checked=move || { let me = session.username(); !me.is_empty() && submitter.get() == me }
                            on:change={
                                let go = go_mine;
                                move |ev| {
                                    submitter.set(if event_target_checked(&ev) { session.username() } else { String::new() });
                                    page.set(1);
                                    go(statuses.get_untracked(), text.get_untracked(), 1);
                                }
                            } />
                        {t!(i18n, tasks.list.mine)}
                    </label>
                </div>
                <div class="field inline">
                    <label for="task-search">{t!(i18n, tasks.list.search)}</label>
                    <input id="task-search" type="search" placeholder=t_string!(i18n, tasks.list.search_placeholder)
                        prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) />
                    <button type="submit">{t!(i18n, tasks.list.search)}</button>
                </div>
            </form>
            {move || loaded(tasks.get(), |p: TaskPage| view! { <TaskTable items=p.items /> })}
            <Pager page=page per_page=PER_PAGE total=total />
        </div>
    }
}
