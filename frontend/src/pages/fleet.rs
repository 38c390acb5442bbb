//! A task's hosts × steps for fleets of thousands: hosts as rows, steps as columns, only
//! the rows in view drawn (a virtualised list), status counts as filter chips.
//!
//! The model is plain data outside the reactive system: a `pair` event changes one cell
//! and bumps its row's revision; the page batches events and bumps `tick` once per batch,
//! and only the drawn rows whose revision moved are drawn again.

use std::collections::HashMap;

use api_types::{Pair, PairStatus, Task, TaskEvent, TaskRun, Trigger};
use leptos::prelude::*;

use crate::components::{number, status_text};
use crate::i18n::*;

/// Height of one host row in pixels (`.frow` in style.css matches).
pub const ROW: i32 = 34;
/// Rows drawn above and below the visible ones, so a quick scroll shows no gap.
const OVERSCAN: i32 = 10;

/// One column: a step of the template snapshot.
pub struct StepCol {
    pub name: String,
    pub group: String,
    pub manual: bool,
}

/// The run as the page knows it: every pair by host and step.
#[derive(Default)]
pub struct Fleet {
    /// The run's attempt the pairs belong to (0 before the first run).
    pub attempt: i64,
    pub steps: Vec<StepCol>,
    pub hosts: Vec<String>,
    index: HashMap<String, usize>,
    /// `[host][step]`: `None` where the host is not in the step's group.
    cells: Vec<Vec<Option<Pair>>>,
    /// Per host row, bumped on every change of one of its pairs.
    rev: Vec<u32>,
}

/// A host's pairs in the order of the steps (`None`: not in that step's group).
pub type Cells = [Option<Pair>];

impl Fleet {
    /// From the run's pairs, or before the first run from the snapshot and the task's hosts.
    pub fn build(task: &Task, run: Option<&TaskRun>) -> Fleet {
        let steps: Vec<StepCol> = task
            .template_snapshot
            .steps
            .iter()
            .map(|s| StepCol { name: s.name.clone(), group: s.group.clone(), manual: s.trigger == Trigger::Manual })
            .collect();
        let mut fleet = Fleet { attempt: run.map_or(0, |r| r.attempt), steps, ..Fleet::default() };
        match run.filter(|r| !r.pairs.is_empty()) {
            Some(run) => {
                // Rows in the task's host order (the run lists each step's pairs by host name).
                for s in &task.template_snapshot.steps {
                    if s.group == "local" {
                        fleet.row_of("local");
                    } else {
                        task.hosts.get(&s.group).into_iter().flatten().for_each(|h| {
                            fleet.row_of(h);
                        });
                    }
                }
                run.pairs.iter().for_each(|p| fleet.put(p.clone()))
            }
            None => {
                for (i, s) in task.template_snapshot.steps.iter().enumerate() {
                    let hosts = if s.group == "local" {
                        vec!["local".to_string()]
                    } else {
                        task.hosts.get(&s.group).cloned().unwrap_or_default()
                    };
                    for host in hosts {
                        fleet.put(planned(i as i64, &s.name, &s.group, host));
                    }
                }
            }
        }
        fleet
    }

    /// The host's row, made (last) when it has none yet.
    fn row_of(&mut self, host: &str) -> usize {
        match self.index.get(host) {
            Some(&h) => h,
            None => {
                self.index.insert(host.to_string(), self.hosts.len());
                self.hosts.push(host.to_string());
                self.cells.push(vec![]);
                self.rev.push(0);
                self.hosts.len() - 1
            }
        }
    }

    fn put(&mut self, p: Pair) {
        let h = self.row_of(&p.host);
        let step = p.step.max(0) as usize;
        let row = &mut self.cells[h];
        if row.len() <= step {
            row.resize(step + 1, None);
        }
        row[step] = Some(p);
    }

    /// Applies a `pair` event. A pair the run did not list yet (a redo's new pairs, or a
    /// run read before its first attempt was recorded) is added from it. Returns false
    /// when the page does not know the host or the step (its view of the run is out of
    /// date and must be read again).
    pub fn apply(&mut self, e: &TaskEvent) -> bool {
        let Some(&h) = self.index.get(&e.host) else { return false };
        let Some(col) = self.steps.get(e.step.max(0) as usize) else { return false };
        let step = e.step.max(0) as usize;
        if self.cells[h].get(step).is_none_or(Option::is_none) {
            let (name, group) = (col.name.clone(), col.group.clone());
            self.put(planned(e.step, &name, &group, e.host.clone()));
        }
        let Some(Some(p)) = self.cells[h].get_mut(step) else { return false };
        if let Some(status) = e.status.as_deref().and_then(PairStatus::parse) {
            if status == PairStatus::Running && p.status != PairStatus::Running {
                p.started_at = Some(e.at.clone());
                p.finished_at = None;
                p.exit_code = None;
            }
            if status.is_ok() || status.is_failure() {
                p.finished_at = Some(e.at.clone());
            }
            p.status = status;
        }
        p.attempt = e.attempt;
        if e.exit_code.is_some() {
            p.exit_code = e.exit_code;
        }
        if let Some(m) = &e.message {
            p.message.clone_from(m);
        }
        self.rev[h] = self.rev[h].wrapping_add(1);
        true
    }

    pub fn pair(&self, step: i64, host: &str) -> Option<&Pair> {
        let h = *self.index.get(host)?;
        self.cells[h].get(step.max(0) as usize)?.as_ref()
    }

    pub fn pairs(&self) -> impl Iterator<Item = &Pair> {
        self.cells.iter().flatten().flatten()
    }

    /// How many hosts have a pair in each status (a host counts once per status it has).
    pub fn counts(&self) -> Vec<(PairStatus, usize)> {
        let mut n = [0usize; PairStatus::ALL.len()];
        for row in &self.cells {
            let mut seen = [false; PairStatus::ALL.len()];
            for p in row.iter().flatten() {
                seen[p.status as usize] = true;
            }
            for (i, s) in seen.iter().enumerate() {
                n[i] += usize::from(*s);
            }
        }
        PairStatus::ALL.into_iter().zip(n).filter(|(_, n)| *n > 0).collect()
    }

    /// Finished pairs and all pairs.
    pub fn progress(&self) -> (usize, usize) {
        self.pairs()
            .fold((0, 0), |(done, all), p| (done + usize::from(p.status.is_ok() || p.status.is_failure()), all + 1))
    }

    /// The rows to show, in order: those with a pair in `filter` (all without one), the
    /// hosts with a failure first when asked.
    pub fn order(&self, filter: Option<PairStatus>, failed_first: bool) -> Vec<usize> {
        let has = |h: usize, f: &dyn Fn(PairStatus) -> bool| self.cells[h].iter().flatten().any(|p| f(p.status));
        let mut rows: Vec<usize> =
            (0..self.hosts.len()).filter(|&h| filter.is_none_or(|s| has(h, &|p| p == s))).collect();
        if failed_first {
            // Stable: within each rank the hosts keep the run's order.
            rows.sort_by_key(|&h| {
                if has(h, &PairStatus::is_failure) {
                    0
                } else if has(h, &|s| matches!(s, PairStatus::Running | PairStatus::Waiting)) {
                    1
                } else {
                    2
                }
            });
        }
        rows
    }

    /// The row's host, its cells and its revision.
    pub fn row(&self, h: usize) -> (&str, &Cells, u32) {
        (&self.hosts[h], &self.cells[h], self.rev[h])
    }

    pub fn rev(&self, h: usize) -> u32 {
        self.rev[h]
    }

    /// The failed pairs (the first `limit` of them, step by step) and how many there are.
    pub fn failures(&self, limit: usize) -> (Vec<Pair>, usize) {
        let mut all: Vec<&Pair> = self.pairs().filter(|p| p.status.is_failure()).collect();
        let total = all.len();
        all.sort_by_key(|p| p.step);
        (all.into_iter().take(limit).cloned().collect(), total)
    }

    /// Manual steps with hosts waiting to be released: `(step, waiting hosts)`.
    pub fn waiting_manual(&self) -> Vec<(i64, usize)> {
        let mut out = vec![];
        for (i, _) in self.steps.iter().enumerate().filter(|(_, s)| s.manual) {
            let n = self
                .cells
                .iter()
                .filter(|row| row.get(i).and_then(Option::as_ref).is_some_and(|p| p.status == PairStatus::Waiting))
                .count();
            if n > 0 {
                out.push((i as i64, n));
            }
        }
        out
    }

    /// The pair to show first: a failure, else one running, else one that ran, else any.
    pub fn first_of_interest(&self) -> Option<(i64, String)> {
        let pick = |f: &dyn Fn(&Pair) -> bool| self.pairs().find(|p| f(p)).map(|p| (p.step, p.host.clone()));
        pick(&|p| p.status.is_failure())
            .or_else(|| pick(&|p| p.status == PairStatus::Running))
            .or_else(|| pick(&|p| p.status != PairStatus::Pending))
            .or_else(|| pick(&|_| true))
    }

    /// Where a host is in `order`, if shown.
    fn position(&self, order: &[usize], host: &str) -> Option<usize> {
        let h = *self.index.get(host)?;
        order.iter().position(|&r| r == h)
    }
}

fn planned(step: i64, name: &str, group: &str, host: String) -> Pair {
    Pair {
        step,
        step_name: name.to_string(),
        group: group.to_string(),
        host,
        status: PairStatus::Pending,
        attempt: 0,
        tries: 0,
        exit_code: None,
        started_at: None,
        finished_at: None,
        message: String::new(),
        kill_confirmed: None,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn millis(rfc3339: &str) -> Option<f64> {
    let ms = js_sys::Date::parse(rfc3339);
    (!ms.is_nan()).then_some(ms)
}

/// A duration as `850 ms`, `12.3 s`, `4 min 05 s` or `2 h 03 min` (in the reader's language).
pub fn duration(ms: f64) -> String {
    let l = crate::i18n::current();
    let ms = ms.max(0.0);
    if ms < 1000.0 {
        fill(td_string!(l, task.duration.ms), &[("n", &format!("{ms:.0}"))])
    } else if ms < 60_000.0 {
        fill(td_string!(l, task.duration.s), &[("n", &format!("{:.1}", ms / 1000.0))])
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0) as u64;
        fill(td_string!(l, task.duration.min_s), &[("m", &(s / 60)), ("s", &format!("{:02}", s % 60))])
    } else {
        let m = (ms / 60_000.0) as u64;
        fill(td_string!(l, task.duration.h_min), &[("h", &(m / 60)), ("m", &format!("{:02}", m % 60))])
    }
}

/// How long a pair ran (so far, when it is still running and `now` is given).
pub fn pair_duration(p: &Pair, now: Option<f64>) -> Option<String> {
    let start = millis(p.started_at.as_deref()?)?;
    let end = match p.finished_at.as_deref() {
        Some(f) => millis(f)?,
        None => now?,
    };
    Some(duration(end - start))
}

/// The status shown (as a word of [`status_text`]): a pending pair of a task that is over never ran.
pub fn status_label(status: PairStatus, over: bool) -> &'static str {
    if over && status == PairStatus::Pending {
        "not_run"
    } else {
        status.as_str()
    }
}

/// A pair's status with its exit code, if any: `failed, exit 2`.
pub fn status_with_exit(status: &str, exit_code: Option<i64>) -> String {
    let status = status_text(status);
    match exit_code {
        Some(code) => {
            fill(td_string!(crate::i18n::current(), task.pair.status_exit), &[("status", &status), ("code", &code)])
        }
        None => status,
    }
}

/// The grid with its filter chips.
#[component]
pub fn FleetGrid(
    fleet: StoredValue<Fleet, LocalStorage>,
    /// Bumped whenever the model changed.
    tick: RwSignal<u64>,
    selected: RwSignal<Option<(i64, String)>>,
    /// The chip chosen: only hosts with a pair in this status.
    filter: RwSignal<Option<PairStatus>>,
    /// The task is over (pending pairs will not run).
    #[prop(into)]
    over: Signal<bool>,
    /// Draw the rows in a task after the rest (as the page opens); a grid drawn anew on a
    /// page already open (a redo) draws them at once, with no empty frame between.
    #[prop(optional)]
    rows_later: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let failed_first = RwSignal::new(false);
    let scroll_top = RwSignal::new(0i32);
    let view_height = RwSignal::new(600i32);
    let scroller = NodeRef::<leptos::html::Div>::new();

    let counts = Memo::new(move |_| {
        tick.track();
        fleet.with_value(|f| (f.hosts.len(), f.counts()))
    });
    let order = Memo::new(move |_| {
        tick.track();
        let (status, first) = (filter.get(), failed_first.get());
        fleet.with_value(|f| f.order(status, first))
    });
    // The rows come in a task after the rest of the grid (and of the page, when it opens):
    // drawn in the same one, a page of 1,000 hosts held the browser for 50-70 ms at once.
    let rows_due = RwSignal::new(!rows_later);
    if rows_later {
        set_timeout(
            move || {
                let _ = rows_due.try_set(true);
            },
            std::time::Duration::ZERO,
        );
    }
    // The rows in view with their revisions: a row is drawn again only when its revision moves.
    let window = Memo::new(move |_| {
        tick.track();
        if !rows_due.get() {
            return (0, vec![]);
        }
        let (top, height) = (scroll_top.get(), view_height.get());
        let start = (top / ROW - OVERSCAN).max(0) as usize;
        let end = ((top + height) / ROW + OVERSCAN).max(0) as usize;
        order.with(|o| {
            let end = end.min(o.len());
            let start = start.min(end);
            fleet.with_value(|f| (start, o[start..end].iter().map(|&h| (h, f.rev(h))).collect::<Vec<_>>()))
        })
    });

    // A chosen pair out of view (picked in the summary, say) is scrolled to. Its place on
    // screen is read when the frame comes: read at once, it would make the browser lay the
    // page out in the middle of drawing it (when the page opens, the whole page, twice).
    Effect::new(move |_| {
        let Some((_, host)) = selected.get() else { return };
        request_animation_frame(move || {
            // The grid may be gone by the frame (drawn anew, or the page left): then nothing.
            let Some(el) = scroller.try_get_untracked().flatten() else { return };
            let at = order.try_with_untracked(|o| fleet.try_with_value(|f| f.position(o, &host))).flatten();
            if let Some(i) = at.flatten() {
                let y = i as i32 * ROW;
                let (top, height) = (el.scroll_top(), el.client_height().max(ROW * 3));
                if y < top || y + ROW * 2 > top + height {
                    el.set_scroll_top((y - height / 3).max(0));
                }
            }
        });
    });

    let chip = move |status: Option<PairStatus>, text: String| {
        let class = status.map_or("chip".to_string(), |s| format!("chip st-{}", s.as_str()));
        let testid = format!("chip-{}", status.map_or("all", |s| s.as_str()));
        view! {
            <button type="button" class=class data-testid=testid aria-pressed=move || (filter.get() == status).to_string()
                on:click=move |_| {
                    filter.set(status);
                    if let Some(el) = scroller.get_untracked() {
                        el.set_scroll_top(0);
                    }
                    scroll_top.set(0);
                }>
                {text}
            </button>
        }
    };
    let chips = move || {
        let (hosts, counts) = counts.get();
        let is_over = over.get();
        let all = fill(t_string!(i18n, task.fleet.chip_all), &[("n", &number(hosts as i64))]);
        let text = |s: PairStatus, n: usize| {
            fill(
                t_string!(i18n, task.fleet.chip_status),
                &[("status", &status_text(status_label(s, is_over))), ("n", &number(n as i64))],
            )
        };
        let mut out = vec![chip(None, all).into_any()];
        // The chosen chip stays, at 0, when its last host moved on.
        if let Some(s) = filter.get().filter(|s| !counts.iter().any(|(c, _)| c == s)) {
            out.push(chip(Some(s), text(s, 0)).into_any());
        }
        for (s, n) in counts {
            out.push(chip(Some(s), text(s, n)).into_any());
        }
        out.collect_view()
    };

    let cell = move |p: &Pair| {
        let status = p.status;
        let key = (p.step, p.host.clone());
        let chosen = {
            let key = key.clone();
            move || selected.with(|s| s.as_ref() == Some(&key))
        };
        let took = pair_duration(p, None);
        let mut title = fill(
            t_string!(i18n, task.pair.title),
            &[
                ("step", &(p.step + 1)),
                ("name", &p.step_name),
                ("host", &p.host),
                ("status", &status_with_exit(status.as_str(), p.exit_code)),
            ],
        );
        if let Some(s) = &p.started_at {
            let at = fill(t_string!(i18n, task.pair.started_at), &[("time", &crate::components::local_time(s))]);
            title.push_str(&format!("\n{at}"));
        }
        if let Some(f) = &p.finished_at {
            let at = fill(t_string!(i18n, task.pair.finished_at), &[("time", &crate::components::local_time(f))]);
            title.push_str(&format!("\n{at}"));
        }
        if let Some(t) = &took {
            title = fill(t_string!(i18n, task.pair.with_duration), &[("text", &title), ("duration", t)]);
        }
        if !p.message.is_empty() {
            title.push_str(&format!("\n{}", p.message));
        }
        let code = p.exit_code.filter(|_| status.is_failure()).map(|c| format!(" ({c})"));
        view! {
            <div class="fcell" role="gridcell">
                <button type="button" class=format!("cell st-{}", status.as_str()) class:chosen=chosen
                    data-testid=format!("cell-{}-{}", p.step, p.host) data-status=status.as_str() title=title
                    on:click=move |_| selected.set(Some(key.clone()))>
                    {move || status_text(status_label(status, over.get()))}{code}
                    {took.map(|t| view! { <span class="took">{t}</span> })}
                </button>
            </div>
        }
    };
    let row = move |h: usize| {
        fleet.with_value(|f| {
            let (host, cells, _) = f.row(h);
            let cells = (0..f.steps.len())
                .map(|s| match cells.get(s).and_then(Option::as_ref) {
                    Some(p) => cell(p).into_any(),
                    None => {
                        let title = t_string!(i18n, task.fleet.not_in_group);
                        view! { <div class="fcell none" role="gridcell" title=title>"—"</div> }.into_any()
                    }
                })
                .collect_view();
            view! {
                <div class="frow" role="row" data-host=host.to_string()>
                    <div class="fhost" role="rowheader" title=host.to_string()>{host.to_string()}</div>
                    {cells}
                </div>
            }
        })
    };

    let steps = fleet.with_value(|f| f.steps.len());
    let columns = format!("--steps: {}", steps.max(1));
    let header = fleet.with_value(|f| {
        f.steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let title = fill(t_string!(i18n, task.fleet.step_group), &[("group", &s.group)]);
                view! {
                    <div class="fstep" role="columnheader" title=title>
                        {format!("{}. {}", i + 1, s.name)}<span class="muted small">{format!(" {}", s.group)}</span>
                    </div>
                }
            })
            .collect_view()
    });
    let (done_total, shown) = (
        Memo::new(move |_| {
            tick.track();
            fleet.with_value(Fleet::progress)
        }),
        Memo::new(move |_| order.with(Vec::len)),
    );

    view! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax=move || done_total.get().1
            aria-valuenow=move || done_total.get().0>
            <div class="bar" style=move || {
                let (done, total) = done_total.get();
                format!("width: {}%", (done * 100).checked_div(total).unwrap_or(0))
            }></div>
            <span>{move || {
                let (done, total) = done_total.get();
                let (done_n, total_n) = (number(done as i64), number(total as i64));
                if over.get() && done < total {
                    fill(
                        t_string!(i18n, task.fleet.progress_not_run),
                        &[("done", &done_n), ("total", &total_n), ("left", &number((total - done) as i64))],
                    )
                } else {
                    fill(t_string!(i18n, task.fleet.progress), &[("done", &done_n), ("total", &total_n)])
                }
            }}</span>
        </div>
        <div class="chips" role="group" aria-label=move || t_string!(i18n, task.fleet.chips_label)>
            {chips}
            <label class="inline-check">
                <input type="checkbox" data-testid="failed-first" prop:checked=move || failed_first.get()
                    on:change=move |ev| failed_first.set(event_target_checked(&ev)) />
                " "{t!(i18n, task.fleet.failed_first)}
            </label>
        </div>
        <div class="fleet" role="grid" aria-rowcount=move || shown.get() data-testid="fleet" node_ref=scroller style=columns
            on:scroll=move |_| {
                if let Some(el) = scroller.get_untracked() {
                    scroll_top.set(el.scroll_top());
                    view_height.set(el.client_height());
                }
            }>
            <div class="frow fhead" role="row">
                <div class="fhost" role="columnheader">{t!(i18n, task.fleet.host)}</div>
                {header}
            </div>
            <div class="fbody" style=move || format!("height: {}px", shown.get() as i32 * ROW)>
                <div class="frows" style=move || format!("transform: translateY({}px)", window.with(|w| w.0) as i32 * ROW)>
                    <For each=move || window.get().1 key=|k| *k children=move |(h, _)| row(h) />
                </div>
            </div>
            {move || (shown.get() == 0).then(|| view! { <p class="muted empty">{t!(i18n, task.fleet.no_match)}</p> })}
        </div>
    }
}
