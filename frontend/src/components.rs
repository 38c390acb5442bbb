//! Small building blocks shared by every page: labelled fields that show their own
//! error, status badges, busy buttons, paging and time formatting.

use std::future::Future;

use api_types::FieldError;
use leptos::prelude::*;

use crate::api::ApiError;
use crate::i18n::*;

/// The errors of one form: `(field, message)`, where the field is an API path such as
/// `steps[2].timeout_secs` and "" means the form as a whole. Each [`Field`] claims its
/// path and shows its own errors; [`FormErrors`] shows the rest.
#[derive(Clone, Copy)]
pub struct Errors {
    list: RwSignal<Vec<(String, String)>>,
    claimed: StoredValue<Vec<String>>,
}

impl Default for Errors {
    fn default() -> Self {
        Errors { list: RwSignal::new(vec![]), claimed: StoredValue::new(vec![]) }
    }
}

fn covers(claimed: &str, field: &str) -> bool {
    !claimed.is_empty()
        && (field == claimed
            || field.strip_prefix(claimed).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
}

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(self) {
        self.list.set(vec![]);
    }

    pub fn api(self, e: &ApiError) {
        self.list.set(vec![(e.body.field.clone().unwrap_or_default(), e.body.message.clone())]);
    }

    pub fn local(self, e: FieldError) {
        let message = crate::i18n::say(&e);
        self.list.set(vec![(e.field, message)]);
    }

    /// Every error a form's own checks found, shown at once.
    pub fn local_all(self, errors: Vec<FieldError>) {
        self.list.set(
            errors
                .into_iter()
                .map(|e| {
                    let message = crate::i18n::say(&e);
                    (e.field, message)
                })
                .collect(),
        );
    }

    /// Forgets the errors of `field` (and of what it contains): it was just edited.
    pub fn clear_field(self, field: &str) {
        if field.is_empty() {
            return;
        }
        if self.list.with_untracked(|l| l.iter().any(|(f, _)| covers(field, f))) {
            self.list.update(|l| l.retain(|(f, _)| !covers(field, f)));
        }
    }

    fn for_field(self, field: &str) -> Option<String> {
        self.list.with(|l| l.iter().find(|(f, _)| covers(field, f)).map(|(_, m)| m.clone()))
    }

    fn claim(self, field: String) {
        self.claimed.update_value(|c| c.push(field.clone()));
        on_cleanup(move || {
            self.claimed.update_value(|c| {
                if let Some(i) = c.iter().position(|f| *f == field) {
                    c.remove(i);
                }
            })
        });
    }

    fn unclaimed(self) -> Vec<String> {
        let claimed = self.claimed.get_value();
        self.list.with(|l| {
            l.iter()
                .filter(|(f, _)| !claimed.iter().any(|c| covers(c, f)))
                .map(|(f, m)| if f.is_empty() { m.clone() } else { format!("{f}: {m}") })
                .collect()
        })
    }
}

/// Errors that no field on the form claims (shown beside the form's buttons).
#[component]
pub fn FormErrors(errors: Errors) -> impl IntoView {
    move || errors.unclaimed().into_iter().map(|m| view! { <p class="form-error" role="alert">{m}</p> }).collect_view()
}

fn next_id() -> String {
    thread_local!(static NEXT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    NEXT.with(|n| {
        n.set(n.get() + 1);
        format!("f{}", n.get())
    })
}

fn error_view(errors: Option<Errors>, field: String) -> impl IntoView {
    if let Some(e) = errors {
        e.claim(field.clone());
    }
    move || errors.and_then(|e| e.for_field(&field)).map(|m| view! { <p class="field-error">{m}</p> })
}

/// A labelled text input (or textarea) bound to `value`, showing errors for `field`.
#[component]
pub fn Field(
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(optional)] errors: Option<Errors>,
    #[prop(optional, into)] field: String,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] multiline: bool,
    #[prop(optional, into)] placeholder: String,
    #[prop(optional, into)] hint: String,
    #[prop(optional, into)] testid: Option<String>,
    #[prop(optional, into)] list: Option<String>,
    /// Shown but not changeable (a value the server does not let one change).
    #[prop(optional, into)]
    readonly: Signal<bool>,
) -> impl IntoView {
    let id = next_id();
    // Editing a field takes its error away: it may be fixed now.
    let edited = {
        let field = field.clone();
        move |ev: leptos::ev::Event| {
            value.set(event_target_value(&ev));
            if let Some(e) = errors {
                e.clear_field(&field);
            }
        }
    };
    let input = if multiline {
        view! {
            <textarea id=id.clone() data-testid=testid placeholder=placeholder rows="6" spellcheck="false"
                prop:value=move || value.get() on:input=edited></textarea>
        }
        .into_any()
    } else {
        view! {
            <input id=id.clone() type=kind data-testid=testid placeholder=placeholder list=list
                readonly=move || readonly.get() prop:value=move || value.get() on:input=edited />
        }
        .into_any()
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {input}
            {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
            {error_view(errors, field)}
        </div>
    }
}

/// A labelled select of `(value, text)` options bound to `value`.
#[component]
pub fn Select(
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(into)] options: Signal<Vec<(String, String)>>,
    #[prop(optional)] errors: Option<Errors>,
    #[prop(optional, into)] field: String,
) -> impl IntoView {
    let id = next_id();
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select id=id on:change=move |ev| value.set(event_target_value(&ev))>
                {move || {
                    options
                        .get()
                        .into_iter()
                        .map(|(v, text)| {
                            let selected = value.get() == v;
                            view! { <option value=v selected=selected>{text}</option> }
                        })
                        .collect_view()
                }}
            </select>
            {error_view(errors, field)}
        </div>
    }
}

/// Every template as `(id, name)` options, after a "Choose a template…" placeholder.
pub fn template_options(
    templates: LocalResource<Result<Vec<api_types::Template>, ApiError>>,
) -> Signal<Vec<(String, String)>> {
    let i18n = use_i18n();
    Signal::derive(move || {
        let mut o = vec![(String::new(), t_string!(i18n, common.choose_template).to_string())];
        if let Some(Ok(list)) = templates.get() {
            o.extend(list.into_iter().map(|t| (t.id.to_string(), t.name)));
        }
        o
    })
}

/// Options for a [`Select`] whose values and texts are the same words.
pub fn plain_options(words: &[&str]) -> Vec<(String, String)> {
    words.iter().map(|w| (w.to_string(), w.to_string())).collect()
}

/// A checkbox with its label after it.
#[component]
pub fn Check(
    #[prop(into)] label: String,
    value: RwSignal<bool>,
    /// Locked as it is (shown, not changeable).
    #[prop(optional, into)]
    disabled: Signal<bool>,
) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" prop:checked=move || value.get() disabled=move || disabled.get()
                on:change=move |ev| value.set(event_target_checked(&ev)) />
            {label}
        </label>
    }
}

/// A task or pair status as a coloured badge, named in the reader's language.
#[component]
pub fn Badge(#[prop(into)] status: String) -> impl IntoView {
    let text = status_text(&status);
    view! { <span class=format!("badge st-{status}") data-status=status.clone()>{text}</span> }
}

/// A task or pair status (`running`, `not_run`, …) in the reader's language; an unknown
/// one as it is.
pub fn status_text(status: &str) -> String {
    let l = crate::i18n::current();
    let text = match status {
        "new" => td_string!(l, common.status.new),
        "ready" => td_string!(l, common.status.ready),
        "running" => td_string!(l, common.status.running),
        "success" => td_string!(l, common.status.success),
        "failed" => td_string!(l, common.status.failed),
        "aborted" => td_string!(l, common.status.aborted),
        "rejected" => td_string!(l, common.status.rejected),
        "cancelled" => td_string!(l, common.status.cancelled),
        "expired" => td_string!(l, common.status.expired),
        "interrupted" => td_string!(l, common.status.interrupted),
        "pending" => td_string!(l, common.status.pending),
        "waiting" => td_string!(l, common.status.waiting),
        "timeout" => td_string!(l, common.status.timeout),
        "unreachable" => td_string!(l, common.status.unreachable),
        "skipped" => td_string!(l, common.status.skipped),
        "not_run" | "not run" => td_string!(l, common.status.not_run),
        other => return other.to_string(),
    };
    text.to_string()
}

/// A role in the reader's language.
pub fn role_text(role: api_types::Role) -> String {
    let l = crate::i18n::current();
    match role {
        api_types::Role::Viewer => td_string!(l, common.role.viewer),
        api_types::Role::Operator => td_string!(l, common.role.operator),
        api_types::Role::Approver => td_string!(l, common.role.approver),
        api_types::Role::Admin => td_string!(l, common.role.admin),
    }
    .to_string()
}

/// A whole number as the reader's language writes it (`12,345`: digits grouped by threes
/// with the catalogue's `common.number_group`).
pub fn number(n: i64) -> String {
    api_types::message::group_digits(n, td_string!(crate::i18n::current(), common.number_group))
}

/// Runs `work` unless it is already running: `busy` is set meanwhile, errors go to
/// `errors`, and `done` gets the answer.
pub fn run<T: 'static>(
    busy: RwSignal<bool>,
    errors: Errors,
    work: impl Future<Output = Result<T, ApiError>> + 'static,
    done: impl FnOnce(T) + 'static,
) {
    if busy.get_untracked() {
        return;
    }
    busy.set(true);
    errors.clear();
    leptos::task::spawn_local(async move {
        let answer = work.await;
        busy.try_set(false);
        match answer {
            Ok(v) => done(v),
            Err(e) => errors.api(&e),
        }
    });
}

/// An RFC 3339 time in the browser's time zone, in the reader's language's pattern
/// (`common.datetime`: 24-hour clock, seconds shown), from the date's own local-time
/// fields. Not `Intl`: the browser's first `Intl.DateTimeFormat` loads its locale's data,
/// which took 25–50 ms in the middle of drawing the first page.
pub fn local_time(rfc3339: &str) -> String {
    // Years 1 to 9999 (local), as the pattern writes them; anything else as given.
    const FIRST: f64 = -62_135_596_800_000.0 + 86_400_000.0; // 0001-01-02T00:00:00Z
    const LAST: f64 = 253_402_214_400_000.0; // 9999-12-31T00:00:00Z
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(rfc3339));
    if !(FIRST..=LAST).contains(&d.get_time()) {
        return rfc3339.to_string();
    }
    let two = |n: u32| format!("{n:02}");
    fill(
        td_string!(crate::i18n::current(), common.datetime),
        &[
            ("year", &d.get_full_year()),
            ("month", &two(d.get_month() + 1)),
            ("day", &two(d.get_date())),
            ("hour", &two(d.get_hours())),
            ("minute", &two(d.get_minutes())),
            ("second", &two(d.get_seconds())),
        ],
    )
}

/// A `datetime-local` input's value (browser time) as RFC 3339 UTC; `None` when empty.
pub fn datetime_local_to_rfc3339(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return None;
    }
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(value));
    if d.get_time().is_nan() {
        return Some(value.to_string());
    }
    d.to_iso_string().as_string()
}

/// Splits a comma- or whitespace-separated list.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| matches!(c, ',' | '，') || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Previous / next page buttons for a list of `total` items.
#[component]
pub fn Pager(page: RwSignal<i64>, per_page: i64, #[prop(into)] total: Signal<i64>) -> impl IntoView {
    let i18n = use_i18n();
    let pages = move || ((total.get() + per_page - 1) / per_page).max(1);
    // Comparisons stay outside `view!`, where `<` and `>` read as tags.
    let first = move || page.get() <= 1;
    let last = move || page.get() >= pages();
    view! {
        <div class="pager">
            <button type="button" disabled=first on:click=move |_| page.update(|p| *p -= 1)>
                {t!(i18n, common.pager.previous)}
            </button>
            <span>{move || fill(
                    t_string!(i18n, common.pager.page_of),
                    &[("page", &number(page.get())), ("pages", &number(pages())), ("total", &number(total.get()))],
                )}</span>
            <button type="button" disabled=last on:click=move |_| page.update(|p| *p += 1)>
                {t!(i18n, common.pager.next)}
            </button>
        </div>
    }
}

/// Shows `Loading…`, an error, or the loaded value through `show`.
pub fn loaded<T: Clone + 'static, V: IntoView + 'static>(
    state: Option<Result<T, ApiError>>,
    show: impl FnOnce(T) -> V,
) -> AnyView {
    match state {
        None => {
            let l = crate::i18n::current();
            view! { <p class="muted" aria-busy="true">{td_string!(l, common.loading)}</p> }.into_any()
        }
        Some(Err(e)) => view! { <p class="form-error" role="alert">{e.message()}</p> }.into_any(),
        Some(Ok(v)) => show(v).into_any(),
    }
}
