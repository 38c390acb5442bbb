//! One task: its facts, a grid of steps × hosts coloured live, a log pane that tails the
//! chosen (step, host) over Server-Sent Events, and the actions the user may take.

use std::collections::BTreeMap;

use api_types::{
    Decision, LogLine, LogPage, Pair, PairSelector, PairStatus, RedoMode, RedoRequest, Task, TaskAction, TaskEvent,
    TaskRun,
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::components::{local_time, Field};

/// Lines kept in the log pane; older ones are dropped from view (the server keeps all).
const PANE_LINES: usize = 5000;
const PAGE: i64 = 1000;

fn json(body: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// The open event stream and the handlers it calls (kept alive with it).
struct Live {
    source: web_sys::EventSource,
    _handlers: Vec<Closure<dyn FnMut(web_sys::MessageEvent)>>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// Rows of the grid: each step with the hosts of its group, from the run's pairs or, before
/// the first run, from the template snapshot and the task's hosts.
fn grid_rows(task: &Task, run: Option<&TaskRun>) -> Vec<(i64, String, String, Vec<Pair>)> {
    let mut rows: BTreeMap<i64, (String, String, Vec<Pair>)> = BTreeMap::new();
    if let Some(run) = run.filter(|r| !r.pairs.is_empty()) {
        for p in &run.pairs {
            rows.entry(p.step).or_insert_with(|| (p.step_name.clone(), p.group.clone(), vec![])).2.push(p.clone());
        }
    } else {
        for (i, s) in task.template_snapshot.steps.iter().enumerate() {
            let (name, group) = (s.name.clone(), s.group.clone());
            let hosts = if group == "local" {
                vec!["local".to_string()]
            } else {
                task.hosts.get(&group).cloned().unwrap_or_default()
            };
            let pairs = hosts
                .into_iter()
                .map(|host| Pair {
                    step: i as i64,
                    step_name: name.clone(),
                    group: group.clone(),
                    host,
                    status: PairStatus::Pending,
                    attempt: 0,
                    tries: 0,
                    exit_code: None,
                    started_at: None,
                    finished_at: None,
                    message: String::new(),
                    kill_confirmed: None,
                })
                .collect();
            rows.insert(i as i64, (name, group, pairs));
        }
    }
    rows.into_iter().map(|(i, (name, group, pairs))| (i, name, group, pairs)).collect()
}

#[component]
pub fn TaskDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0));

    let task = RwSignal::new(None::<Result<Task, ApiError>>);
    let run = RwSignal::new(None::<TaskRun>);
    let selected = RwSignal::new(None::<(i64, String)>);
    let lines = RwSignal::new(Vec::<LogLine>::new());
    // Lines of the chosen pair left out of the pane (it keeps the last PANE_LINES).
    let dropped = RwSignal::new(0usize);
    // The pane keeps its end in view while following; scrolling up stops that.
    let follow = RwSignal::new(true);
    let pane_ref = NodeRef::<leptos::html::Pre>::new();
    let log_busy = RwSignal::new(false);
    let live = StoredValue::new_local(None::<Live>);
    let action_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(None::<&'static str>);
    let comment = RwSignal::new(String::new());
    let redo_step = RwSignal::new(String::from("0"));

    on_cleanup(move || live.set_value(None));

    // Appends lines of the chosen pair, in id order, once each.
    let add_lines = move |new: Vec<LogLine>| {
        lines.update(|all| {
            all.extend(new);
            all.sort_by_key(|l| l.id);
            all.dedup_by_key(|l| l.id);
            if all.len() > PANE_LINES {
                let extra = all.len() - PANE_LINES;
                all.drain(..extra);
                dropped.update(|d| *d += extra);
            }
        })
    };
    let to_end = move || {
        if let Some(el) = pane_ref.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    // After each change of the lines (once drawn), back to the end while following: a
    // finished log opens at its end, a live one follows its output.
    Effect::new(move |_| {
        lines.track();
        if follow.get_untracked() {
            // Checked again when the frame comes: the reader may have scrolled up meanwhile.
            request_animation_frame(move || {
                if follow.get_untracked() {
                    to_end();
                }
            });
        }
    });

    // The chosen pair and the attempt it is at: a redo of it shows the new attempt's log.
    let chosen = Memo::new(move |_| {
        let (step, host) = selected.get()?;
        let attempt = run.with(|r| {
            r.as_ref().and_then(|r| r.pairs.iter().find(|p| p.step == step && p.host == host)).map_or(0, |p| p.attempt)
        });
        Some((step, host, attempt))
    });

    let on_event = move |e: TaskEvent| match e.kind.as_str() {
        "log" => {
            let wanted = chosen.with_untracked(|c| {
                c.as_ref().is_some_and(|(st, h, a)| *st == e.step && *h == e.host && (*a == e.attempt || *a == 0))
            });
            if wanted {
                add_lines(vec![LogLine {
                    id: e.id,
                    attempt: e.attempt,
                    step: e.step,
                    host: e.host,
                    stream: e.stream.unwrap_or(api_types::Stream::Stdout),
                    seq: e.seq.unwrap_or_default(),
                    text: e.text.unwrap_or_default(),
                    at: e.at,
                }]);
            }
        }
        "pair" => run.update(|r| {
            let Some(r) = r else { return };
            if let Some(p) = r.pairs.iter_mut().find(|p| p.step == e.step && p.host == e.host) {
                if let Some(s) = e.status.as_deref().and_then(PairStatus::parse) {
                    p.status = s;
                }
                p.attempt = e.attempt;
                p.exit_code = e.exit_code.or(p.exit_code);
                if let Some(m) = e.message.clone() {
                    p.message = m;
                }
            }
        }),
        _ => {}
    };

    let refresh = StoredValue::new_local(None::<std::rc::Rc<dyn Fn()>>);
    // The id as it is now, outside reactive code (0 once the page is gone).
    let id_now =
        move || params.try_with_untracked(|p| p.get("id").and_then(|s| s.parse::<i64>().ok())).flatten().unwrap_or(0);
    let connect = move |task_id: i64, after: i64| {
        let token = api::stored_token().unwrap_or_default();
        let url = format!("/api/v1/tasks/{task_id}/events?after={after}&access_token={}", api::q(&token));
        let Ok(source) = web_sys::EventSource::new(&url) else { return };
        let mut handlers = vec![];
        for kind in ["log", "pair", "task"] {
            let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
                let Some(data) = m.data().as_string() else { return };
                let Ok(event) = serde_json::from_str::<TaskEvent>(&data) else { return };
                if event.kind == "task" {
                    // The task changed state: read it again (this also ends the stream when it is over).
                    if let Some(f) = refresh.try_get_value().flatten() {
                        f();
                    }
                } else {
                    on_event(event);
                }
            });
            let _ = source.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
            handlers.push(handler);
        }
        // The stream ended (the task is over, or decided without a run, or the network
        // dropped): rather than let the browser reconnect from an old position forever,
        // read the task again after a pause; that reconnects while it is still going.
        let closer = source.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            closer.close();
            set_timeout(
                move || {
                    live.try_set_value(None);
                    if let Some(f) = refresh.try_get_value().flatten() {
                        f();
                    }
                },
                std::time::Duration::from_secs(1),
            );
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        live.set_value(Some(Live { source, _handlers: handlers, _on_error: on_error }));
    };
    let reload = move || {
        let task_id = id_now();
        leptos::task::spawn_local(async move {
            // The run first: its event position is older than the task read next, so the
            // stream opened from it repeats rather than misses what happens in between.
            let state = api::get::<TaskRun>(&format!("/tasks/{task_id}/run")).await;
            let answer = api::get::<Task>(&format!("/tasks/{task_id}")).await;
            if id_now() != task_id {
                return; // the page moved on (or is gone)
            }
            if let Ok(r) = &state {
                let over = answer.as_ref().map_or(r.status.is_final(), |t| t.status.is_final());
                if over {
                    live.try_set_value(None);
                } else if live.try_with_value(Option::is_none).unwrap_or(false) {
                    connect(task_id, r.last_event_id);
                }
                if selected.try_get_untracked().flatten().is_none() {
                    if let Some(p) = r.pairs.iter().find(|p| p.status != PairStatus::Pending).or(r.pairs.first()) {
                        selected.try_set(Some((p.step, p.host.clone())));
                    }
                }
            }
            task.try_set(Some(answer));
            run.try_set(state.ok());
        });
    };
    refresh.set_value(Some(std::rc::Rc::new(reload)));
    Effect::new(move |_| {
        let _ = id();
        live.set_value(None);
        selected.set(None);
        reload();
    });

    // The chosen pair's log so far, page by page; live lines join it from the stream.
    Effect::new(move |_| {
        let Some((step, host, attempt)) = chosen.get() else { return };
        lines.set(vec![]);
        dropped.set(0);
        follow.set(true);
        log_busy.set(true);
        let (task_id, attempt_number) = (id(), attempt);
        leptos::task::spawn_local(async move {
            let mut after = 0;
            let attempt = if attempt > 0 { format!("&attempt={attempt}") } else { String::new() };
            loop {
                let path = format!(
                    "/tasks/{task_id}/logs?step={step}&host={}{attempt}&after={after}&limit={PAGE}",
                    api::q(&host)
                );
                let Ok(page) = api::get::<LogPage>(&path).await else { break };
                let full = page.lines.len() as i64 == PAGE;
                after = page.next_after;
                add_lines(page.lines);
                if !full || chosen.try_get_untracked().flatten() != Some((step, host.clone(), attempt_number)) {
                    break;
                }
            }
            log_busy.try_set(false);
        });
    });

    let act = move |label: &'static str, verb: &'static str, body: serde_json::Value| {
        if busy.get_untracked().is_some() {
            return;
        }
        busy.set(Some(label));
        action_error.set(None);
        let path = format!("/tasks/{}/{verb}", id_now());
        leptos::task::spawn_local(async move {
            let answer = api::post::<serde_json::Value>(&path, &body).await;
            busy.try_set(None);
            match answer {
                Ok(_) => {
                    live.try_set_value(None);
                    reload();
                }
                Err(e) => {
                    action_error.try_set(Some(e.message()));
                }
            }
        });
    };

    let actions = move || {
        let Some(Ok(t)) = task.get() else { return ().into_any() };
        // The server says what this user may do now; the page offers exactly that.
        let may = |a: TaskAction| t.actions.contains(&a);
        let pair = selected.get().and_then(|(step, host)| {
            run.with(|r| r.as_ref().and_then(|r| r.pairs.iter().find(|p| p.step == step && p.host == host).cloned()))
        });
        let button = move |label: &'static str, class: &'static str, verb: &'static str, body: serde_json::Value| {
            view! {
                <button type="button" class=class disabled=move || busy.get().is_some()
                    on:click=move |_| act(label, verb, body.clone())>
                    {move || if busy.get() == Some(label) { format!("{label}…") } else { label.to_string() }}
                </button>
            }
        };
        let decision = move || json(&Decision { comment: Some(comment.get_untracked()).filter(|c| !c.is_empty()) });
        let mut out = vec![];
        if may(TaskAction::Approve) || may(TaskAction::Reject) {
            out.push(view! { <Field label="Comment" value=comment /> }.into_any());
        }
        if may(TaskAction::Approve) {
            out.push(
                view! {
                    <button type="button" class="primary" disabled=move || busy.get().is_some()
                        on:click=move |_| act("Approve", "approve", decision())>"Approve"</button>
                }
                .into_any(),
            );
        }
        if may(TaskAction::Reject) {
            out.push(
                view! {
                    <button type="button" class="danger" disabled=move || busy.get().is_some()
                        on:click=move |_| act("Reject", "reject", decision())>"Reject"</button>
                }
                .into_any(),
            );
        }
        if may(TaskAction::Cancel) {
            out.push(button("Cancel task", "danger", "cancel", serde_json::json!({})).into_any());
        }
        if may(TaskAction::Abort) {
            out.push(button("Abort", "danger", "abort", serde_json::json!({})).into_any());
        }
        let redoable = may(TaskAction::Redo);
        if redoable {
            out.push(
                button(
                    "Redo failed",
                    "primary",
                    "redo",
                    json(&RedoRequest { mode: RedoMode::Failed, hosts: None, step: None }),
                )
                .into_any(),
            );
            out.push(
                button("Redo all", "", "redo", json(&RedoRequest { mode: RedoMode::All, hosts: None, step: None }))
                    .into_any(),
            );
            let steps: Vec<(String, String)> = grid_rows(&t, run.get().as_ref())
                .into_iter()
                .map(|(i, name, _, _)| (i.to_string(), format!("{}. {name}", i + 1)))
                .collect();
            out.push(
                view! {
                    <span class="inline-group">
                        <crate::components::Select label="From step" value=redo_step options=steps />
                        <button type="button" disabled=move || busy.get().is_some() on:click=move |_| {
                            let step = redo_step.get_untracked().parse().unwrap_or(0);
                            act("Redo from step", "redo", json(&RedoRequest { mode: RedoMode::FromStep, hosts: None, step: Some(step) }))
                        }>"Redo from step"</button>
                    </span>
                }
                .into_any(),
            );
        }
        if let Some(p) = pair {
            let sel = json(&PairSelector { step: p.step, host: Some(p.host.clone()) });
            if may(TaskAction::Skip) && p.status.can_skip() {
                out.push(button("Skip", "", "skip", sel.clone()).into_any());
            }
            let manual =
                t.template_snapshot.steps.get(p.step as usize).is_some_and(|s| s.trigger == api_types::Trigger::Manual);
            if may(TaskAction::Release) && manual && p.status == PairStatus::Waiting {
                out.push(button("Release", "primary", "release", sel).into_any());
                out.push(
                    button("Release all hosts", "", "release", json(&PairSelector { step: p.step, host: None }))
                        .into_any(),
                );
            }
            if redoable {
                out.push(
                    button(
                        "Redo this host",
                        "",
                        "redo",
                        json(&RedoRequest { mode: RedoMode::Hosts, hosts: Some(vec![p.host.clone()]), step: None }),
                    )
                    .into_any(),
                );
            }
        }
        out.into_iter().collect_view().into_any()
    };

    let grid = move || {
        let Some(Ok(t)) = task.get() else { return ().into_any() };
        let r = run.get();
        let rows = grid_rows(&t, r.as_ref());
        let mut hosts: Vec<String> = vec![];
        for (_, _, _, pairs) in &rows {
            for p in pairs {
                if !hosts.contains(&p.host) {
                    hosts.push(p.host.clone());
                }
            }
        }
        let total = rows.iter().map(|r| r.3.len()).sum::<usize>();
        let done = rows.iter().flat_map(|r| r.3.iter()).filter(|p| p.status.is_ok() || p.status.is_failure()).count();
        let header = hosts.iter().map(|h| view! { <th class="host">{h.clone()}</th> }).collect_view();
        let body = rows
            .into_iter()
            .map(|(i, name, group, pairs)| {
                let cells = hosts
                    .iter()
                    .map(|h| match pairs.iter().find(|p| &p.host == h) {
                        None => view! { <td class="none">"—"</td> }.into_any(),
                        Some(p) => {
                            let key = (p.step, p.host.clone());
                            let status = p.status.as_str();
                            let is_chosen = { let key = key.clone(); move || selected.get().as_ref() == Some(&key) };
                            let title = format!("{} on {}: {}{}", p.step_name, p.host, status, if p.message.is_empty() { String::new() } else { format!(" ({})", p.message) });
                            let text = match p.exit_code { Some(c) if p.status.is_failure() => format!("{status} ({c})"), _ => status.to_string() };
                            view! {
                                <td>
                                    <button type="button" class=format!("cell st-{status}") class:chosen=is_chosen
                                        data-testid=format!("cell-{}-{}", p.step, p.host) data-status=status title=title
                                        on:click=move |_| selected.set(Some(key.clone()))>
                                        {text}
                                    </button>
                                </td>
                            }
                            .into_any()
                        }
                    })
                    .collect_view();
                view! { <tr><th class="step">{format!("{}. {name}", i + 1)}<span class="muted small">{format!(" group {group}")}</span></th>{cells}</tr> }
            })
            .collect_view();
        view! {
            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax=total aria-valuenow=done>
                <div class="bar" style=format!("width: {}%", (done * 100).checked_div(total).unwrap_or(0))></div>
                <span>{format!("{done} of {total} step × host pairs finished")}</span>
            </div>
            <div class="grid-wrap">
                <table class="grid">
                    <thead><tr><th>"Step"</th>{header}</tr></thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        }
        .into_any()
    };

    let pane = move || {
        let title = match selected.get() {
            Some((step, host)) => format!("Log of step {} on {host}", step + 1),
            None => "Choose a cell to see its log".to_string(),
        };
        view! {
            <h2>{title}{move || log_busy.get().then(|| view! { <span class="muted small" aria-busy="true">" loading…"</span> })}</h2>
            <label class="inline-check">
                <input type="checkbox" data-testid="log-follow" prop:checked=move || follow.get()
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        follow.set(on);
                        if on {
                            to_end();
                        }
                    } />
                " Follow new output"
            </label>
            {move || (dropped.get() > 0).then(|| view! {
                <p class="muted small" data-testid="log-dropped">
                    {format!("{} earlier lines are not shown here: the pane keeps the last {PANE_LINES}.", dropped.get())}
                </p>
            })}
            <pre class="log" data-testid="log-pane" node_ref=pane_ref on:scroll=move |_| {
                if let Some(el) = pane_ref.get_untracked() {
                    // At the end (within a few pixels) means following; above it, reading.
                    follow.set(el.scroll_top() + el.client_height() >= el.scroll_height() - 8);
                }
            }>
                {move || lines.get().into_iter().map(|l| {
                    let class = match l.stream { api_types::Stream::Stderr => "log-line err", api_types::Stream::System => "log-line sys", _ => "log-line" };
                    view! { <span class=class>{l.text}"\n"</span> }
                }).collect_view()}
            </pre>
        }
    };

    let facts = move || {
        let Some(state) = task.get() else {
            return view! { <p class="muted" aria-busy="true">"Loading…"</p> }.into_any();
        };
        let t = match state {
            Ok(t) => t,
            Err(e) => return view! { <p class="form-error" role="alert">{e.message()}</p> }.into_any(),
        };
        let attempt = run.with(|r| r.as_ref().map_or(0, |r| r.attempt));
        view! {
            <h1>
                {format!("#{} {} ", t.id, t.name)}
                <span data-testid="task-status" class=format!("badge st-{}", t.status.as_str())>{t.status.as_str()}</span>
            </h1>
            <dl class="facts card">
                <dt>"Template"</dt><dd><a href=format!("/templates/{}", t.template_id)>{t.template_name.clone()}</a></dd>
                <dt>"Submitted by"</dt><dd>{format!("{} ({}, {})", t.submitter, t.source, local_time(&t.created_at))}</dd>
                <dt>"Runs at"</dt><dd>{local_time(&t.exec_time)}</dd>
                <dt>"Approval"</dt>
                <dd>{match &t.approval {
                    Some(a) => format!("{} by {} at {}{}", a.decision, a.by, local_time(&a.at), if a.comment.is_empty() { String::new() } else { format!(": {}", a.comment) }),
                    None if t.schedule == api_types::Schedule::New => "waiting for approval".into(),
                    None => "not needed".into(),
                }}</dd>
                <dt>"Arguments"</dt><dd class="mono">{t.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  ")}</dd>
                <dt>"Hosts"</dt><dd class="mono">{t.hosts.iter().map(|(g, h)| format!("{g}: {}", h.join(", "))).collect::<Vec<_>>().join("  ")}</dd>
                <dt>"Attempt"</dt><dd>{attempt}</dd>
                {(!t.details.is_empty()).then(|| view! { <dt>"Details"</dt><dd>{t.details.clone()}</dd> })}
            </dl>
        }
        .into_any()
    };

    let found = move || matches!(task.get(), Some(Ok(_)));
    view! {
        {facts}
        <Show when=found>
        <div class="card actions-bar">
            {actions}
            {move || action_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        </div>
        <div class="card">{grid}</div>
        <div class="card">{pane}</div>
        <p class="muted small">"Updates arrive as they happen over a live stream; nothing here polls."</p>
        </Show>
    }
}
