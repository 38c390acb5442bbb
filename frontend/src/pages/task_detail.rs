//! One task: its facts, what failed and what waits, the hosts × steps grid (virtualised,
//! see [`super::fleet`]) coloured live, the chosen pair's log, and the actions the server
//! says the user may take. One event stream per page; its events are applied in batches.

use api_types::{
    Decision, LogLine, PairSelector, PairStatus, RedoMode, RedoRequest, Task, TaskAction, TaskEvent, TaskEventBatch,
    TaskRun, TaskStatus,
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::fleet::{self, Fleet, FleetGrid};
use super::log_view::{LogState, LogView};
use crate::api::{self, ApiError};
use crate::components::{local_time, number, status_text, Field};
use crate::i18n::*;

/// Failed pairs listed by name at the top of the page.
const FAILURES_SHOWN: usize = 5;
/// Events wait this long to be applied together (one redraw per batch).
const BATCH: std::time::Duration = std::time::Duration::from_millis(50);

/// Pairs per read when the page reads a run: about 120 KB of JSON, parsed in a task of
/// its own each (some 20 ms), so a run of thousands of hosts never holds the page in one
/// long task (15,000 pairs in one read held it for 100 ms and more).
const RUN_PAGE: usize = 500;

/// The whole run, read a page at a time. The event position is the first page's: the
/// stream goes on from there, so what changed while the later pages were read comes again
/// (a pair read newer than an event replayed over it ends up as the last event says). A
/// redo that begins meanwhile makes the server refuse the next page (409): the read starts
/// again, a few times at most.
async fn read_run(task_id: i64) -> Result<TaskRun, ApiError> {
    let path = format!("/tasks/{task_id}/run?limit={RUN_PAGE}");
    let mut again = 3;
    'read: loop {
        let mut run = api::get::<TaskRun>(&path).await?;
        while let Some(after) = run.next.take() {
            match api::get::<TaskRun>(&format!("{path}&after={}", api::q(&after))).await {
                Ok(page) => {
                    run.pairs.extend(page.pairs);
                    run.next = page.next;
                }
                Err(e) if e.status == 409 && again > 0 => {
                    again -= 1;
                    continue 'read;
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(run);
    }
}

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

/// Events received and not yet applied.
#[derive(Default)]
struct Batch {
    pairs: Vec<TaskEvent>,
    lines: Vec<LogLine>,
    due: bool,
}

/// The run's times: `(attempt, started, finished)`.
type RunTimes = (i64, Option<String>, Option<String>);

#[component]
pub fn TaskDetail() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0));
    // The id as it is now, outside reactive code (0 once the page is gone).
    let id_now =
        move || params.try_with_untracked(|p| p.get("id").and_then(|s| s.parse::<i64>().ok())).flatten().unwrap_or(0);

    let task = RwSignal::new(None::<Result<Task, ApiError>>);
    let times = RwSignal::new(None::<RunTimes>);
    let fleet = StoredValue::new_local(Fleet::default());
    let tick = RwSignal::new(0u64);
    let filter = RwSignal::new(None::<PairStatus>);
    let selected = RwSignal::new(None::<(i64, String)>);
    let log = LogState::new();
    let live = StoredValue::new_local(None::<Live>);
    // While the task's own stream is closed (the task is over): the stream of all tasks,
    // so a redo started elsewhere is seen.
    let watch = StoredValue::new_local(None::<crate::live::Watch>);
    let batch = StoredValue::new_local(Batch::default());
    // The latest event applied: a stream opened again goes on from it.
    let last_seen = StoredValue::new(0i64);
    // Seconds to wait before the stream is opened again after it failed.
    let retry = StoredValue::new(1u64);
    // Numbers the reads of the task, so that an answer overtaken by a later read is dropped.
    let reads = StoredValue::new(0u64);
    // A read of the run was asked for and not applied yet.
    let need_run = StoredValue::new(false);
    // When an unknown pair last made the page read the run again (ms).
    let stale_read = StoredValue::new(0f64);
    // A grid was drawn for this task already (see FleetGrid's `rows_later`).
    let grids = StoredValue::new(false);
    let action_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(None::<String>);
    let comment = RwSignal::new(String::new());
    let redo_step = RwSignal::new(String::from("0"));

    on_cleanup(move || {
        live.set_value(None);
        watch.set_value(None);
    });

    let over = Signal::derive(move || task.with(|t| matches!(t, Some(Ok(t)) if t.status.is_final())));
    // The chosen pair and the attempt it is at: a redo of it shows the new attempt's log.
    let chosen = Memo::new(move |_| {
        let (step, host) = selected.get()?;
        tick.track();
        let attempt = fleet.with_value(|f| f.pair(step, &host).map_or(0, |p| p.attempt));
        Some((step, host, attempt))
    });

    let refresh = StoredValue::new_local(None::<std::rc::Rc<dyn Fn(bool)>>);
    let reload = move |with_run: bool| {
        if let Some(f) = refresh.try_get_value().flatten() {
            f(with_run);
        }
    };

    // Applies what arrived since the last batch: the pairs to the model (one redraw), the
    // chosen pair's lines to the log.
    let flush = move || {
        let Some(Batch { pairs, lines, .. }) = batch.try_update_value(std::mem::take) else { return };
        let mut stale = false;
        if !pairs.is_empty() {
            fleet.update_value(|f| {
                for e in &pairs {
                    stale |= !f.apply(e);
                }
            });
            tick.update(|t| *t += 1);
        }
        // Lines queued for a pair chosen before are not this pane's.
        let lines: Vec<LogLine> = chosen.with_untracked(|c| match c {
            Some((step, host, attempt)) => lines
                .into_iter()
                .filter(|l| l.step == *step && l.host == *host && (l.attempt == *attempt || *attempt == 0))
                .collect(),
            None => vec![],
        });
        if !lines.is_empty() {
            log.append(lines);
        }
        // At most one such read every 5 s: an event the run as read still does not know
        // must not start a loop of reads.
        if stale && js_sys::Date::now() - stale_read.get_value() > 5000.0 {
            stale_read.set_value(js_sys::Date::now());
            reload(true);
        }
    };
    let queue = move |add: &dyn Fn(&mut Batch)| {
        let due = batch.try_update_value(|b| {
            add(b);
            std::mem::replace(&mut b.due, true)
        });
        if due == Some(false) {
            set_timeout(flush, BATCH);
        }
    };

    let on_event = move |e: TaskEvent| {
        last_seen.update_value(|s| *s = (*s).max(e.id));
        match e.kind.as_str() {
            "log" => {
                let wanted = chosen.with_untracked(|c| {
                    c.as_ref().is_some_and(|(st, h, a)| *st == e.step && *h == e.host && (*a == e.attempt || *a == 0))
                });
                if wanted {
                    let line = LogLine {
                        id: e.id,
                        attempt: e.attempt,
                        step: e.step,
                        host: e.host,
                        stream: e.stream.unwrap_or(api_types::Stream::Stdout),
                        seq: e.seq.unwrap_or_default(),
                        text: e.text.unwrap_or_default(),
                        at: e.at,
                    };
                    queue(&move |b| b.lines.push(line.clone()));
                }
            }
            "pair" => queue(&move |b| b.pairs.push(e.clone())),
            "task" => {
                // What came before it first, then the new status at once; the task is read
                // again for what may be done now, the run only when a new attempt began.
                flush();
                let status = e.status.as_deref().and_then(TaskStatus::parse);
                task.update(|t| {
                    if let (Some(Ok(t)), Some(s)) = (t, status) {
                        t.status = s;
                    }
                });
                if status.is_some_and(TaskStatus::is_final) {
                    times.update(|t| {
                        if let Some(t) = t {
                            t.2 = Some(e.at.clone());
                        }
                    });
                }
                let new_attempt = fleet.with_value(|f| f.attempt != e.attempt);
                reload(new_attempt);
            }
            _ => {}
        }
    };

    // After a failure (of the stream, or of taking its ticket), the task is read again
    // after a pause; that reconnects while it is still going, from the last event seen
    // (the server keeps every event: nothing is missed, and the run of thousands of hosts
    // is not read and parsed again). Each failure in a row waits twice as long (1 s up to
    // 30 s); an event resets it.
    let fail_later = move || {
        let wait = retry.try_get_value().unwrap_or(1);
        retry.try_set_value((wait * 2).min(30));
        set_timeout(
            move || {
                live.try_set_value(None);
                reload(false);
            },
            std::time::Duration::from_secs(wait),
        );
    };
    // Opens the stream at `url` (with its ticket).
    let open = move |url: String| {
        let Ok(source) = web_sys::EventSource::new(&url) else {
            fail_later();
            return;
        };
        watch.set_value(None);
        let mut handlers = vec![];
        // The stream is opened with `batch=true`: pair changes and log lines come as
        // `pairs` and `logs` messages of many events each (a run of thousands of hosts
        // sends thousands of events a second, which one by one keep the browser busy).
        for kind in ["logs", "pairs", "task"] {
            let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
                let Some(data) = m.data().as_string() else { return };
                let events = if kind == "task" {
                    serde_json::from_str::<TaskEvent>(&data).map(|e| vec![e])
                } else {
                    serde_json::from_str::<TaskEventBatch>(&data).map(|b| b.events)
                };
                if let Ok(events) = events {
                    retry.try_set_value(1);
                    events.into_iter().for_each(on_event);
                }
            });
            let _ = source.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
            handlers.push(handler);
        }
        // The stream ended (the task is over, or decided without a run, or the network
        // dropped): rather than let the browser reconnect from an old position (with a
        // ticket that may have run out) forever, read the task again after a pause.
        let closer = source.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            closer.close();
            fail_later();
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        live.set_value(Some(Live { source, _handlers: handlers, _on_error: on_error }));
    };

    // Numbers the openings of the stream: only the latest one opens (a ticket is fetched first).
    let connects = StoredValue::new(0u64);
    let connect = move |task_id: i64, after: i64| {
        connects.update_value(|n| *n += 1);
        let this_connect = connects.get_value();
        leptos::task::spawn_local(async move {
            let path = format!("/api/v1/tasks/{task_id}/events");
            let ticket = api::ticket(&path).await;
            if id_now() != task_id || connects.try_get_value() != Some(this_connect) {
                return; // the page moved on (or is gone), or a later opening is under way
            }
            let Ok(ticket) = ticket else {
                fail_later();
                return;
            };
            // Status changes of every pair, log lines of the chosen one only (as chosen now).
            let logs_of = selected
                .get_untracked()
                .map(|(step, host)| format!("&log_step={step}&log_host={}", api::q(&host)))
                .unwrap_or_default();
            open(format!("{path}?after={after}{logs_of}&batch=true&ticket={ticket}"));
        });
    };

    // Reads the task (and the run when asked, or when the page has none yet) and keeps
    // the stream open while it is not over.
    let read = move |with_run: bool| {
        let task_id = id_now();
        // A run read asked for stays wanted until one is applied: a later read (after a
        // failure, or overtaking it) reads the run as well.
        if with_run {
            need_run.set_value(true);
        }
        let with_run = need_run.get_value() || times.get_untracked().is_none();
        reads.update_value(|n| *n += 1);
        let this_read = reads.get_value();
        leptos::task::spawn_local(async move {
            // The run first: its event position is older than the task read next, so the
            // stream opened from it repeats rather than misses what happens in between.
            let state = if with_run { Some(read_run(task_id).await) } else { None };
            let answer = api::get::<Task>(&format!("/tasks/{task_id}")).await;
            // The page is drawn in a task of its own, not in the one that parsed the task
            // (together they held a page of 1,000 hosts for 61 ms).
            crate::app::sleep(0).await;
            if id_now() != task_id || reads.try_get_value() != Some(this_read) {
                return; // the page moved on (or is gone), or a later read is under way
            }
            // The server could not be reached, or failed: read again later (backing off)
            // until it answers, keeping what the page shows meanwhile.
            let down = |e: &ApiError| e.status == 0 || e.status >= 500;
            // A run that kept changing under its pages (redo after redo) is read again later.
            let run_down = state.as_ref().is_some_and(|s| s.as_ref().is_err_and(|e| down(e) || e.status == 409));
            if answer.as_ref().is_err_and(down) || run_down {
                fail_later();
                if task.with_untracked(|t| matches!(t, Some(Ok(_)))) {
                    return;
                }
            }
            // Over, and its end not seen on the stream (it was down): the events up to the
            // end will not come over a stream, so the run is read (a redo may even have
            // come and gone meanwhile).
            let end_seen = task.with_untracked(|t| matches!(t, Some(Ok(t)) if t.status.is_final()));
            if !with_run && !end_seen && answer.as_ref().is_ok_and(|t| t.status.is_final()) {
                reload(true);
                return;
            }
            let from = match (&state, &answer) {
                (Some(Ok(r)), Ok(t)) => {
                    need_run.set_value(false);
                    // The model starts again from the run as read: the stream goes on from
                    // that point too (what it brought since is sent again, not lost).
                    batch.update_value(|b| b.pairs.clear());
                    live.set_value(None);
                    fleet.set_value(Fleet::build(t, Some(r)));
                    times.set(Some((r.attempt, r.started_at.clone(), r.finished_at.clone())));
                    last_seen.set_value(r.last_event_id);
                    tick.update(|n| *n += 1);
                    Some(r.last_event_id)
                }
                (None, _) => Some(last_seen.get_value()),
                _ => None,
            };
            if let (Ok(t), Some(from)) = (&answer, from) {
                if t.status.is_final() {
                    live.set_value(None);
                    if watch.with_value(Option::is_none) {
                        // A redo made before the stream opened is caught by reading the
                        // task once it is open.
                        let opened = crate::live::Watch::open(
                            move |c| {
                                // Even a final status: a quick redo may be over by the time it is seen.
                                if c.id == task_id {
                                    reload(true);
                                }
                            },
                            move || {
                                // The run is read again only if the task changed since it was read.
                                let held = task.with_untracked(|t| match t {
                                    Some(Ok(t)) => t.updated_at.clone(),
                                    _ => String::new(),
                                });
                                leptos::task::spawn_local(async move {
                                    if let Ok(now) = api::get::<Task>(&format!("/tasks/{task_id}")).await {
                                        if now.updated_at != held {
                                            reload(true);
                                        }
                                    }
                                });
                            },
                        );
                        watch.set_value(Some(opened));
                    }
                } else if live.with_value(Option::is_none) {
                    connect(task_id, from);
                }
                if selected.get_untracked().is_none() {
                    selected.set(fleet.with_value(Fleet::first_of_interest));
                }
            }
            task.set(Some(answer));
        });
    };
    refresh.set_value(Some(std::rc::Rc::new(read)));
    Effect::new(move |_| {
        let _ = id();
        grids.set_value(false);
        live.set_value(None);
        selected.set(None);
        filter.set(None);
        times.set(None);
        read(true);
    });
    // Another pair chosen while live: the stream goes on from where it was, with that
    // pair's lines.
    Effect::new(move |prev: Option<Option<(i64, String)>>| {
        let now = selected.get();
        if prev.is_some_and(|p| p != now) && live.with_value(Option::is_some) {
            live.set_value(None);
            connect(id_now(), last_seen.get_value());
        }
        now
    });

    let act = move |label: String, verb: &'static str, body: serde_json::Value| {
        if busy.get_untracked().is_some() {
            return;
        }
        busy.set(Some(label));
        action_error.set(None);
        let path = format!("/tasks/{}/{verb}", id_now());
        leptos::task::spawn_local(async move {
            let answer = api::post_unread(&path, &body).await;
            busy.try_set(None);
            match answer {
                // What the action changes arrives over the stream (a new attempt makes the
                // page read the run); the task is read again for what may be done now.
                Ok(_) => reload(false),
                Err(e) => {
                    action_error.try_set(Some(e.message()));
                }
            }
        });
    };
    let button = move |label: String, class: &'static str, verb: &'static str, body: serde_json::Value| {
        let shown = label.clone();
        let mine = label.clone();
        view! {
            <button type="button" class=class disabled=move || busy.get().is_some()
                on:click=move |_| act(label.clone(), verb, body.clone())>
                {move || if busy.with(|b| b.as_deref() == Some(mine.as_str())) {
                    fill(t_string!(i18n, task.actions.busy), &[("action", &shown)])
                } else {
                    shown.clone()
                }}
            </button>
        }
    };

    // What the server says this user may do with the task now (`None` before it is read).
    let allowed_actions = move || task.with(|t| t.as_ref().and_then(|t| t.as_ref().ok()).map(|t| t.actions.clone()));
    let actions = move || {
        // Only the actions (not a copy of the task with its thousands of hosts, at every batch).
        let Some(allowed) = allowed_actions() else { return ().into_any() };
        // The server says what this user may do now; the page offers exactly that.
        let may = |a: TaskAction| allowed.contains(&a);
        tick.track();
        let pair = selected.get().and_then(|(step, host)| fleet.with_value(|f| f.pair(step, &host).cloned()));
        let decision = move || json(&Decision { comment: Some(comment.get_untracked()).filter(|c| !c.is_empty()) });
        let mut out = vec![];
        if may(TaskAction::Approve) || may(TaskAction::Reject) {
            out.push(view! { <Field label=t_string!(i18n, task.actions.comment) value=comment /> }.into_any());
        }
        if may(TaskAction::Approve) {
            out.push(
                view! {
                    <button type="button" class="primary" disabled=move || busy.get().is_some()
                        on:click=move |_| act(t_string!(i18n, task.actions.approve).into(), "approve", decision())>
                        {t!(i18n, task.actions.approve)}
                    </button>
                }
                .into_any(),
            );
        }
        if may(TaskAction::Reject) {
            out.push(
                view! {
                    <button type="button" class="danger" disabled=move || busy.get().is_some()
                        on:click=move |_| act(t_string!(i18n, task.actions.reject).into(), "reject", decision())>
                        {t!(i18n, task.actions.reject)}
                    </button>
                }
                .into_any(),
            );
        }
        if may(TaskAction::Cancel) {
            out.push(
                button(t_string!(i18n, task.actions.cancel_task).into(), "danger", "cancel", serde_json::json!({}))
                    .into_any(),
            );
        }
        if may(TaskAction::Abort) {
            out.push(
                button(t_string!(i18n, task.actions.abort).into(), "danger", "abort", serde_json::json!({})).into_any(),
            );
        }
        let redoable = may(TaskAction::Redo);
        if redoable {
            out.push(
                button(
                    t_string!(i18n, task.actions.redo_failed).into(),
                    "primary",
                    "redo",
                    json(&RedoRequest { mode: RedoMode::Failed, hosts: None, step: None }),
                )
                .into_any(),
            );
            out.push(
                button(
                    t_string!(i18n, task.actions.redo_all).into(),
                    "",
                    "redo",
                    json(&RedoRequest { mode: RedoMode::All, hosts: None, step: None }),
                )
                .into_any(),
            );
            let steps: Vec<(String, String)> = fleet.with_value(|f| {
                f.steps.iter().enumerate().map(|(i, s)| (i.to_string(), format!("{}. {}", i + 1, s.name))).collect()
            });
            out.push(
                view! {
                    <span class="inline-group">
                        <crate::components::Select label=t_string!(i18n, task.actions.from_step) value=redo_step
                            options=steps />
                        <button type="button" disabled=move || busy.get().is_some() on:click=move |_| {
                            let step = redo_step.get_untracked().parse().unwrap_or(0);
                            let body = json(&RedoRequest { mode: RedoMode::FromStep, hosts: None, step: Some(step) });
                            act(t_string!(i18n, task.actions.redo_from_step).into(), "redo", body)
                        }>{t!(i18n, task.actions.redo_from_step)}</button>
                    </span>
                }
                .into_any(),
            );
        }
        if let Some(p) = pair {
            let sel = json(&PairSelector { step: p.step, host: Some(p.host.clone()) });
            let at: [(&str, &dyn std::fmt::Display); 2] = [("step", &(p.step + 1)), ("host", &p.host)];
            if may(TaskAction::Skip) && p.status.can_skip() {
                out.push(
                    button(fill(t_string!(i18n, task.actions.skip_step_on_host), &at), "", "skip", sel.clone())
                        .into_any(),
                );
            }
            let manual = fleet.with_value(|f| f.steps.get(p.step as usize).is_some_and(|s| s.manual));
            if may(TaskAction::Release) && manual && p.status == PairStatus::Waiting {
                let label = fill(t_string!(i18n, task.actions.release_step_on_host), &at);
                out.push(button(label, "primary", "release", sel).into_any());
            }
            if redoable {
                out.push(
                    button(
                        fill(t_string!(i18n, task.actions.redo_host), &[("host", &p.host)]),
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

    // What failed (and why) and what waits for a person, above the grid.
    let summary = move || {
        let Some(allowed) = allowed_actions() else { return ().into_any() };
        tick.track();
        let may_release = allowed.contains(&TaskAction::Release);
        let ((failed, total), waiting, steps) = fleet.with_value(|f| {
            (f.failures(FAILURES_SHOWN), f.waiting_manual(), f.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
        });
        let mut out = vec![];
        for (step, hosts) in waiting {
            let name = steps.get(step as usize).cloned().unwrap_or_default();
            let text = if hosts == 1 {
                t_string!(i18n, task.summary.waiting_single)
            } else {
                t_string!(i18n, task.summary.waiting)
            };
            let text = fill(text, &[("step", &(step + 1)), ("name", &name), ("n", &number(hosts as i64))]);
            let release = fill(t_string!(i18n, task.summary.release_all), &[("step", &(step + 1))]);
            out.push(
                view! {
                    <div class="notice waiting" data-testid=format!("waiting-{step}")>
                        <span>{text}</span>
                        {may_release.then(|| {
                            button(release, "primary", "release", json(&PairSelector { step, host: None }))
                        })}
                    </div>
                }
                .into_any(),
            );
        }
        if total > 0 {
            let items = failed
                .into_iter()
                .map(|p| {
                    let key = (p.step, p.host.clone());
                    let pair = fill(
                        t_string!(i18n, task.summary.failed_pair),
                        &[("step", &(p.step + 1)), ("name", &p.step_name), ("host", &p.host)],
                    );
                    let status = fleet::status_with_exit(p.status.as_str(), p.exit_code);
                    let why = if p.message.is_empty() {
                        status
                    } else {
                        fill(t_string!(i18n, task.with_note), &[("text", &status), ("note", &p.message)])
                    };
                    view! {
                        <li>
                            <button type="button" class="link" on:click=move |_| selected.set(Some(key.clone()))>
                                {pair}
                            </button>
                            " "{why}
                        </li>
                    }
                })
                .collect_view();
            let more = (total > FAILURES_SHOWN).then(|| {
                let more = fill(t_string!(i18n, task.summary.more), &[("n", &number((total - FAILURES_SHOWN) as i64))]);
                view! {
                    <li>
                        <button type="button" class="link" on:click=move |_| filter.set(Some(PairStatus::Failed))>
                            {more}
                        </button>
                    </li>
                }
            });
            let heading = if total == 1 {
                t_string!(i18n, task.summary.pairs_failed_single)
            } else {
                t_string!(i18n, task.summary.pairs_failed)
            };
            let heading = fill(heading, &[("n", &number(total as i64))]);
            out.push(
                view! {
                    <div class="notice failed" data-testid="failure-summary" role="status">
                        <strong>{heading}</strong>
                        <ul>{items}{more}</ul>
                    </div>
                }
                .into_any(),
            );
        }
        out.collect_view().into_any()
    };

    let facts = move || {
        let Some(state) = task.get() else {
            return view! { <p class="muted" aria-busy="true">{t!(i18n, common.loading)}</p> }.into_any();
        };
        let t = match state {
            Ok(t) => t,
            Err(e) => return view! { <p class="form-error" role="alert">{e.message()}</p> }.into_any(),
        };
        let run_times = times.get();
        let host_count: usize = t.hosts.values().map(Vec::len).sum();
        let took = run_times.as_ref().and_then(|(_, start, end)| {
            let start = fleet::millis(start.as_deref()?)?;
            let end = end.as_deref().and_then(fleet::millis)?;
            Some(fleet::duration(end - start))
        });
        let source = match t.source.as_str() {
            "schedule" => t_string!(i18n, task.facts.source_schedule).to_string(),
            other => other.to_string(),
        };
        let submitted = fill(
            t_string!(i18n, task.facts.submitted_detail),
            &[("submitter", &t.submitter), ("source", &source), ("time", &local_time(&t.created_at))],
        );
        let approval = match &t.approval {
            Some(a) => {
                let text = match a.decision.as_str() {
                    "approved" => t_string!(i18n, task.facts.approved_by),
                    "rejected" => t_string!(i18n, task.facts.rejected_by),
                    _ => t_string!(i18n, task.facts.decided_by),
                };
                let text = fill(text, &[("decision", &a.decision), ("by", &a.by), ("at", &local_time(&a.at))]);
                if a.comment.is_empty() {
                    text
                } else {
                    fill(t_string!(i18n, task.with_note), &[("text", &text), ("note", &a.comment)])
                }
            }
            None if t.schedule == api_types::Schedule::New => t_string!(i18n, task.facts.waiting_for_approval).into(),
            None => t_string!(i18n, task.facts.approval_not_needed).into(),
        };
        let (hosts_text, groups_text) = (
            if host_count == 1 {
                t_string!(i18n, task.facts.host_count_single)
            } else {
                t_string!(i18n, task.facts.host_count)
            },
            if t.hosts.len() == 1 {
                t_string!(i18n, task.facts.group_count_single)
            } else {
                t_string!(i18n, task.facts.group_count)
            },
        );
        let hosts_summary = fill(
            t_string!(i18n, task.facts.hosts_in_groups),
            &[
                ("hosts", &fill(hosts_text, &[("n", &number(host_count as i64))])),
                ("groups", &fill(groups_text, &[("n", &number(t.hosts.len() as i64))])),
            ],
        );
        let args = t.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  ");
        let host_list = t.hosts.iter().map(|(g, h)| format!("{g}: {}", h.join(", "))).collect::<Vec<_>>().join("  ");
        let started = move |start: Option<String>| {
            start.as_deref().map(local_time).unwrap_or_else(|| t_string!(i18n, task.facts.not_started).into())
        };
        let finished = move |end: Option<String>| match (end, took) {
            (Some(e), Some(d)) => {
                fill(t_string!(i18n, task.facts.finished_took), &[("time", &local_time(&e)), ("duration", &d)])
            }
            (Some(e), None) => local_time(&e),
            (None, _) => t_string!(i18n, task.facts.not_finished).into(),
        };
        view! {
            <h1>
                {format!("#{} {} ", t.id, t.name)}
                <span data-testid="task-status" class=format!("badge st-{}", t.status.as_str())>
                    {status_text(t.status.as_str())}
                </span>
            </h1>
            // A new task from this one (same template, arguments and hosts), approved again.
            {crate::session::use_session().has(api_types::Role::Operator).then(|| view! {
                <p><a class="button" data-testid="submit-again" href=format!("/tasks/new?from={}", t.id)>
                    {t!(i18n, task.submit_again)}
                </a></p>
            })}
            <dl class="facts card">
                <dt>{t!(i18n, task.facts.template)}</dt>
                <dd><a href=format!("/templates/{}", t.template_id)>{t.template_name.clone()}</a></dd>
                <dt>{t!(i18n, task.facts.submitted_by)}</dt><dd>{submitted}</dd>
                <dt>{t!(i18n, task.facts.runs_at)}</dt><dd>{local_time(&t.exec_time)}</dd>
                <dt>{t!(i18n, task.facts.approval)}</dt>
                <dd>{approval}</dd>
                <dt>{t!(i18n, task.facts.arguments)}</dt><dd class="mono">{args}</dd>
                <dt>{t!(i18n, task.facts.hosts)}</dt>
                <dd>
                    <details>
                        <summary>{hosts_summary}</summary>
                        <div class="mono">{host_list}</div>
                    </details>
                </dd>
                {run_times.map(|(attempt, start, end)| view! {
                    <dt>{t!(i18n, task.facts.attempt)}</dt><dd>{attempt}</dd>
                    <dt>{t!(i18n, task.facts.started)}</dt>
                    <dd data-testid="task-started">{started(start)}</dd>
                    <dt>{t!(i18n, task.facts.finished)}</dt>
                    <dd data-testid="task-finished">{finished(end)}</dd>
                })}
                {(!t.details.is_empty()).then(|| view! {
                    <dt>{t!(i18n, task.facts.details)}</dt><dd>{t.details.clone()}</dd>
                })}
            </dl>
        }
        .into_any()
    };

    let found = move || task.with(|t| matches!(t, Some(Ok(_))));
    // The grid is drawn anew when the run is read again (a new model); events only tick.
    let generation = Memo::new(move |_| {
        times.track();
        fleet.with_value(|f| (f.attempt, f.hosts.len(), f.steps.len()))
    });
    view! {
        {facts}
        <Show when=found>
        {summary}
        <div class="card actions-bar">
            {actions}
            {move || action_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        </div>
        <div class="card">
            {move || {
                generation.track();
                // Only the page's first grid draws its rows a task later (see FleetGrid).
                let rows_later = !grids.get_value();
                grids.set_value(true);
                view! { <FleetGrid fleet tick selected filter over rows_later /> }
            }}
        </div>
        <div class="card"><LogView log task_id=Signal::derive(id) chosen=chosen /></div>
        <p class="muted small">{t!(i18n, task.live_note)}</p>
        </Show>
    }
}
