//! One pair's log: opened at its end, following new output unless the reader scrolls up,
//! older lines paged in on scrolling to the top (nothing is dropped for good), line
//! numbers, times, stdout/stderr/system told apart, ANSI colours, search, and downloads of
//! the raw text of the pair and of the whole attempt.

use std::sync::Arc;

use api_types::{LogLine, LogPage, Stream};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api;
use crate::components::number;
use crate::i18n::*;

/// Lines asked for per page.
const PAGE: i64 = 1000;
/// Lines kept while following live output: older ones leave the pane, and scrolling to
/// its top pages them in again.
const KEEP: usize = 10_000;
/// Within this many pixels of the top, older lines are paged in.
const NEAR_TOP: i32 = 80;

/// The lines shown and how the pane behaves; the page feeds live lines in with [`LogState::append`].
#[derive(Clone, Copy)]
pub struct LogState {
    lines: RwSignal<Vec<Arc<LogLine>>>,
    /// Lines older than the first shown exist (paged in on scroll to the top).
    more_before: RwSignal<bool>,
    /// The pane keeps its end in view.
    follow: RwSignal<bool>,
    busy: RwSignal<bool>,
    /// Bumped when another pair is chosen: an answer for the one before is dropped.
    generation: StoredValue<u64>,
}

impl LogState {
    pub fn new() -> LogState {
        LogState {
            lines: RwSignal::new(vec![]),
            more_before: RwSignal::new(false),
            follow: RwSignal::new(true),
            busy: RwSignal::new(false),
            generation: StoredValue::new(0),
        }
    }

    fn reset(self) {
        self.generation.update_value(|g| *g += 1);
        self.lines.set(vec![]);
        self.more_before.set(false);
        self.follow.set(true);
    }

    /// Adds lines (live ones or a page), in order, once each. A pane over [`KEEP`] lines
    /// (four times that while the reader is above the end) lets its oldest go (they can be
    /// paged in again).
    pub fn append(self, new: Vec<LogLine>) {
        if new.is_empty() {
            return;
        }
        let follow = self.follow.get_untracked();
        let mut cut = false;
        self.lines.update(|all| {
            let in_order = all.last().is_none_or(|last| new.first().is_some_and(|f| f.id > last.id));
            all.extend(new.into_iter().map(Arc::new));
            if !in_order {
                all.sort_by_key(|l| l.id);
                all.dedup_by_key(|l| l.id);
            }
            // While following, the pane keeps KEEP lines; while the reader is above, up to
            // four times that before the oldest go (all can be paged in again).
            let keep = if follow { KEEP } else { KEEP * 4 };
            if all.len() > keep {
                all.drain(..all.len() - keep);
                cut = true;
            }
        });
        if cut {
            self.more_before.set(true);
        }
    }

    fn prepend(self, older: Vec<LogLine>) {
        self.lines.update(|all| {
            let first = all.first().map_or(i64::MAX, |l| l.id);
            let mut merged: Vec<Arc<LogLine>> = older.into_iter().filter(|l| l.id < first).map(Arc::new).collect();
            merged.append(all);
            *all = merged;
        });
    }
}

/// The minutes to add to UTC for local time (the browser's offset today).
fn local_offset_minutes() -> i64 {
    -(js_sys::Date::new_0().get_timezone_offset() as i64)
}

/// `HH:MM:SS.mmm` in local time of an RFC 3339 UTC time (`YYYY-mm-ddTHH:MM:SS.mmmZ`).
fn clock(at: &str, offset: i64) -> String {
    let num = |r: std::ops::Range<usize>| at.get(r).and_then(|s| s.parse::<i64>().ok());
    let (Some(h), Some(m), Some(s)) = (num(11..13), num(14..16), num(17..19)) else { return String::new() };
    let ms = num(20..23).unwrap_or(0);
    let minutes = (h * 60 + m + offset).rem_euclid(24 * 60);
    format!("{:02}:{:02}:{s:02}.{ms:03}", minutes / 60, minutes % 60)
}

/// Text with ANSI SGR colours as spans (classes `fg1`…`fg15`, `bg…`, `b`, `i`, `u`,
/// `dim`); other escape sequences are dropped.
fn ansi(text: &str) -> AnyView {
    if !text.contains('\u{1b}') {
        return text.to_string().into_any();
    }
    let mut sgr = Sgr::default();
    vte::Parser::new().advance(&mut sgr, text.as_bytes());
    sgr.flush();
    sgr.out
        .into_iter()
        .map(
            |(class, text)| {
                if class.is_empty() {
                    text.into_any()
                } else {
                    view! { <span class=class>{text}</span> }.into_any()
                }
            },
        )
        .collect_view()
        .into_any()
}

/// The state of the SGR attributes while parsing a line.
#[derive(Default)]
struct Sgr {
    fg: Option<u16>,
    bg: Option<u16>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    run: String,
    out: Vec<(String, String)>,
}

impl Sgr {
    fn class(&self) -> String {
        let mut c = vec![];
        if let Some(f) = self.fg {
            c.push(format!("fg{f}"));
        }
        if let Some(b) = self.bg {
            c.push(format!("bg{b}"));
        }
        for (on, name) in [(self.bold, "b"), (self.dim, "dim"), (self.italic, "i"), (self.underline, "u")] {
            if on {
                c.push(name.to_string());
            }
        }
        c.join(" ")
    }

    fn flush(&mut self) {
        if !self.run.is_empty() {
            let text = std::mem::take(&mut self.run);
            self.out.push((self.class(), text));
        }
    }
}

impl vte::Perform for Sgr {
    fn print(&mut self, c: char) {
        self.run.push(c);
    }

    fn execute(&mut self, byte: u8) {
        if byte == b'\t' {
            self.run.push('\t');
        }
    }

    fn csi_dispatch(&mut self, params: &vte::Params, _: &[u8], _: bool, action: char) {
        if action != 'm' {
            return;
        }
        self.flush();
        let codes: Vec<u16> = params.iter().flat_map(|p| p.iter().copied()).collect();
        let mut i = 0;
        while i < codes.len().max(1) {
            let code = codes.get(i).copied().unwrap_or(0);
            match code {
                0 => *self = Sgr { run: String::new(), out: std::mem::take(&mut self.out), ..Sgr::default() },
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some(code - 30),
                90..=97 => self.fg = Some(code - 90 + 8),
                39 => self.fg = None,
                40..=47 => self.bg = Some(code - 40),
                100..=107 => self.bg = Some(code - 100 + 8),
                49 => self.bg = None,
                // 256-colour and true-colour forms: skip their arguments.
                38 | 48 => {
                    i += if codes.get(i + 1) == Some(&5) { 2 } else { 4 };
                }
                _ => {}
            }
            i += 1;
        }
    }
}

fn page_path(task: i64, step: i64, host: &str, attempt: i64, before: i64) -> String {
    let attempt = if attempt > 0 { format!("&attempt={attempt}") } else { String::new() };
    format!("/tasks/{task}/logs?step={step}&host={}{attempt}&before={before}&limit={PAGE}", api::q(host))
}

/// The pane for the chosen pair `(step, host, attempt)`.
#[component]
pub fn LogView(
    log: LogState,
    #[prop(into)] task_id: Signal<i64>,
    #[prop(into)] chosen: Signal<Option<(i64, String, i64)>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let pane = NodeRef::<leptos::html::Div>::new();
    let search = RwSignal::new(String::new());
    let times = RwSignal::new(true);
    let offset = local_offset_minutes();

    let to_end = move || {
        if let Some(el) = pane.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    // After each change of the lines (once drawn), back to the end while following: a
    // finished log opens at its end, a live one follows its output.
    Effect::new(move |_| {
        log.lines.track();
        if log.follow.get_untracked() {
            // Checked again when the frame comes: the reader may have scrolled up meanwhile.
            request_animation_frame(move || {
                if log.follow.try_get_untracked() == Some(true) {
                    to_end();
                }
            });
        }
    });

    // The chosen pair's last page; older pages come on scrolling up, live lines from the page's stream.
    Effect::new(move |_| {
        let Some((step, host, attempt)) = chosen.get() else {
            log.reset();
            return;
        };
        log.reset();
        log.busy.set(true);
        let generation = log.generation.get_value();
        let task = task_id.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = api::get::<LogPage>(&page_path(task, step, &host, attempt, i64::MAX)).await;
            if log.generation.try_get_value() != Some(generation) {
                return;
            }
            if let Ok(page) = answer {
                log.more_before.set(page.lines.len() as i64 == PAGE);
                log.append(page.lines);
            }
            log.busy.set(false);
        });
    });

    let load_older = move || {
        if log.busy.get_untracked() || !log.more_before.get_untracked() {
            return;
        }
        let Some((step, host, attempt)) = chosen.get_untracked() else { return };
        let Some(first) = log.lines.with_untracked(|l| l.first().map(|l| l.id)) else { return };
        log.busy.set(true);
        let generation = log.generation.get_value();
        let task = task_id.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = api::get::<LogPage>(&page_path(task, step, &host, attempt, first)).await;
            if log.generation.try_get_value() != Some(generation) {
                return;
            }
            if let Ok(page) = answer {
                log.more_before.set(page.lines.len() as i64 == PAGE);
                // Keep the line the reader was at where it was on screen.
                let before = pane.get_untracked().map(|el| (el.scroll_height(), el.scroll_top()));
                log.prepend(page.lines);
                request_animation_frame(move || {
                    if let (Some(el), Some((height, top))) = (pane.get_untracked(), before) {
                        el.set_scroll_top(el.scroll_height() - height + top);
                    }
                });
            }
            log.busy.set(false);
        });
    };

    // The download's address without credentials (what the link shows)...
    let download = move |whole: bool| {
        let Some((step, host, attempt)) = chosen.get() else { return String::new() };
        let mut query = vec![];
        if !whole {
            query.push(format!("step={step}&host={}", api::q(&host)));
        }
        if attempt > 0 {
            query.push(format!("attempt={attempt}"));
        }
        query.push(String::new()); // the ticket goes last
        format!("/api/v1/tasks/{}/logs/text?{}", task_id.get(), query.join("&"))
    };
    // ...and, when clicked, the same with a fresh ticket: a link never holds the session
    // token (it would stay in the browser's history and downloads list).
    let download_error = RwSignal::new(None::<String>);
    let fetch = move |ev: leptos::ev::MouseEvent, whole: bool| {
        ev.prevent_default();
        let url = untrack(|| download(whole));
        let path = format!("/api/v1/tasks/{}/logs/text", task_id.get_untracked());
        download_error.set(None);
        leptos::task::spawn_local(async move {
            let ticket = match api::ticket(&path).await {
                Ok(t) => t,
                Err(e) => return download_error.set(Some(e.message())),
            };
            let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
            let Ok(link) = document.create_element("a") else { return };
            let _ = link.set_attribute("href", &format!("{url}ticket={ticket}"));
            let _ = link.set_attribute("download", "");
            if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
                link.click();
            }
        });
    };

    let shown = move || {
        let needle = search.get().to_lowercase();
        log.lines.with(|all| {
            if needle.is_empty() {
                all.clone()
            } else {
                all.iter().filter(|l| l.text.to_lowercase().contains(&needle)).cloned().collect()
            }
        })
    };
    let matches = move || {
        let needle = search.get().to_lowercase();
        (!needle.is_empty()).then(|| {
            let (n, all) =
                log.lines.with(|l| (l.iter().filter(|l| l.text.to_lowercase().contains(&needle)).count(), l.len()));
            fill(t_string!(i18n, task.log.matches), &[("n", &number(n as i64)), ("all", &number(all as i64))])
        })
    };
    let line = move |l: Arc<LogLine>| {
        let class = match l.stream {
            Stream::Stderr => "log-line err",
            Stream::System => "log-line sys",
            Stream::Stdout => "log-line",
        };
        view! {
            <div class=class>
                <span class="ln" aria-hidden="true">{l.seq}</span>
                <span class="ts" aria-hidden="true">{clock(&l.at, offset)}</span>
                <span class="tx">{ansi(&l.text)}</span>
            </div>
        }
    };

    let title = move || match chosen.get() {
        Some((step, host, attempt)) if attempt > 0 => fill(
            t_string!(i18n, task.log.title_attempt),
            &[("step", &(step + 1)), ("host", &host), ("attempt", &attempt)],
        ),
        Some((step, host, _)) => fill(t_string!(i18n, task.log.title), &[("step", &(step + 1)), ("host", &host)]),
        None => t_string!(i18n, task.log.choose_cell).to_string(),
    };
    view! {
        <h2>
            {title}
            {move || log.busy.get().then(|| view! {
                <span class="muted small" aria-busy="true">" "{t!(i18n, task.log.loading)}</span>
            })}
        </h2>
        <div class="log-tools">
            <label class="inline-check">
                <input type="checkbox" data-testid="log-follow" prop:checked=move || log.follow.get()
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        log.follow.set(on);
                        if on {
                            to_end();
                        }
                    } />
                " "{t!(i18n, task.log.follow)}
            </label>
            <label class="inline-check">
                <input type="checkbox" data-testid="log-times" prop:checked=move || times.get()
                    on:change=move |ev| times.set(event_target_checked(&ev)) />
                " "{t!(i18n, task.log.times)}
            </label>
            <input type="search" class="log-search" placeholder=move || t_string!(i18n, task.log.search)
                aria-label=move || t_string!(i18n, task.log.search)
                data-testid="log-search" prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev)) />
            {move || matches().map(|m| view! { <span class="muted small" data-testid="log-matches">{m}</span> })}
            // The links exist only for a chosen pair (an empty href would download the page).
            {move || chosen.get().is_some().then(|| view! {
                <a class="button" data-testid="log-download" href=move || download(false) download=""
                    on:click=move |ev| fetch(ev, false)>
                    {t!(i18n, task.log.download)}
                </a>
                <a class="button" data-testid="log-download-all" href=move || download(true) download=""
                    on:click=move |ev| fetch(ev, true)>
                    {t!(i18n, task.log.download_attempt)}
                </a>
                {move || download_error.get().map(|m| view! { <span class="form-error" role="alert">{m}</span> })}
            })}
        </div>
        {move || log.more_before.get().then(|| view! {
            <p class="muted small" data-testid="log-earlier">{t!(i18n, task.log.earlier)}</p>
        })}
        <div class="log" class:no-times=move || !times.get() data-testid="log-pane" node_ref=pane tabindex="0" on:scroll=move |_| {
            if let Some(el) = pane.get_untracked() {
                // At the end (within a few pixels) means following; above it, reading.
                log.follow.set(el.scroll_top() + el.client_height() >= el.scroll_height() - 8);
                if el.scroll_top() < NEAR_TOP {
                    load_older();
                }
            }
        }>
            <For each=shown key=|l| l.id children=line />
        </div>
    }
}
