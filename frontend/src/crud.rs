//! One page shape for the library's lists (commands, aliases, hosts, credentials,
//! schedules, users): a table of items and a form that creates or edits one.

use api_types::{FieldError, Role};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;

use crate::api;
use crate::components::{run, Errors, FormErrors, Pager};
use crate::i18n::*;
use crate::session::use_session;

/// What a list page needs to know about its items and their form.
pub trait Editor: Copy + Send + Sync + 'static {
    type Item: Clone + DeserializeOwned + Send + Sync + 'static;
    /// Collection path under `/api/v1`, e.g. `/commands`.
    const PATH: &'static str;
    /// Least role that may create, change and delete.
    const WRITE_ROLE: Role = Role::Admin;
    const DELETABLE: bool = true;

    /// Creates the form's signals (inside the page's reactive owner).
    fn new() -> Self;
    /// Fills the form from an item, or empties it.
    fn fill(self, item: Option<&Self::Item>);
    /// The request body, after the checks that need no server; `editing` is true for PUT.
    fn body(self, editing: bool) -> Result<serde_json::Value, FieldError>;
    fn form(self, errors: Errors) -> AnyView;
    /// What one item is called, in the reader's language ("command", "命令").
    fn noun() -> String;
    /// The table's column headings, in the reader's language.
    fn headers() -> Vec<String>;
    fn cells(item: &Self::Item) -> AnyView;
    fn id(item: &Self::Item) -> i64;
    fn name(item: &Self::Item) -> String;
    /// What the list's search looks in (lower case is not needed); the name unless told.
    fn search_text(item: &Self::Item) -> String {
        Self::name(item)
    }
}

/// Serialises a typed input for [`Editor::body`].
pub fn to_body(input: &impl serde::Serialize) -> Result<serde_json::Value, FieldError> {
    serde_json::to_value(input).map_err(|e| FieldError::new("", e.to_string()))
}

/// Parses an optional whole number typed into `field`.
pub fn opt_int(field: &str, text: &str) -> Result<Option<i64>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let i18n = use_i18n();
    text.parse().map(Some).map_err(|_| {
        FieldError::new(field, fill(t_string!(i18n, common.crud.not_whole_number), &[("text", &format!("{text:?}"))]))
    })
}

/// `Some(text)` unless it is blank.
pub fn opt_text(text: String) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Rows on one page of a list.
const PER_PAGE: i64 = 50;

/// Search, sort by name and 50 rows a page, for a list held whole in the page.
#[derive(Clone, Copy)]
pub struct Browse {
    query: RwSignal<String>,
    descending: RwSignal<bool>,
    page: RwSignal<i64>,
}

impl Browse {
    pub fn new() -> Self {
        Browse { query: RwSignal::new(String::new()), descending: RwSignal::new(false), page: RwSignal::new(1) }
    }

    /// The items whose `text` holds the search (any case), sorted by `name` in the chosen
    /// direction.
    pub fn matching<T>(self, mut list: Vec<T>, text: impl Fn(&T) -> String, name: impl Fn(&T) -> String) -> Vec<T> {
        let needle = self.query.get().trim().to_lowercase();
        if !needle.is_empty() {
            list.retain(|i| text(i).to_lowercase().contains(&needle));
        }
        list.sort_by_cached_key(|i| name(i).to_lowercase());
        if self.descending.get() {
            list.reverse();
        }
        list
    }

    /// The chosen page of what the search found (a page past the end, its last rows
    /// deleted, is the last), or the note that it found nothing.
    pub fn page_of<T>(self, found: Vec<T>) -> Result<Vec<T>, AnyView> {
        if found.is_empty() {
            let i18n = use_i18n();
            let none = fill(t_string!(i18n, common.crud.no_match), &[("query", &self.query.get_untracked())]);
            return Err(view! { <p class="muted" data-testid="list-no-match">{none}</p> }.into_any());
        }
        let pages = (found.len() as i64 + PER_PAGE - 1) / PER_PAGE;
        let start = ((self.page.get().clamp(1, pages.max(1)) - 1) * PER_PAGE) as usize;
        Ok(found.into_iter().skip(start).take(PER_PAGE as usize).collect())
    }

    pub fn search_box(self) -> impl IntoView {
        let i18n = use_i18n();
        let query = self.query;
        let page = self.page;
        view! {
            <div class="toolbar">
                <input type="search" data-testid="list-search" prop:value=move || query.get()
                    placeholder=move || t_string!(i18n, common.crud.search)
                    aria-label=move || t_string!(i18n, common.crud.search)
                    on:input=move |ev| {
                        query.set(event_target_value(&ev));
                        page.set(1);
                    } />
            </div>
        }
    }

    /// The name column's heading, which turns the order round.
    pub fn sort_header(self, label: String) -> impl IntoView {
        let descending = self.descending;
        let page = self.page;
        view! {
            <th aria-sort=move || if descending.get() { "descending" } else { "ascending" }>
                <button type="button" class="link sort" data-testid="list-sort"
                    on:click=move |_| {
                        descending.update(|d| *d = !*d);
                        page.set(1);
                    }>
                    {label}{move || if descending.get() { " ↓" } else { " ↑" }}
                </button>
            </th>
        }
    }

    /// The pager, when `total` rows take more than a page.
    pub fn pager(self, total: Signal<i64>) -> impl IntoView {
        let page = self.page;
        move || (total.get() > PER_PAGE).then(|| view! { <Pager page=page per_page=PER_PAGE total=total /> })
    }
}

/// The page of `E`'s items, searched, sorted by name and shown 50 at a time; `title` and
/// `intro` are in the reader's language.
pub fn crud_page<E: Editor>(title: String, intro: String) -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let noun = E::noun();
    let items = LocalResource::new(|| api::get::<Vec<E::Item>>(E::PATH));
    let editor = E::new();
    let editing = RwSignal::new(None::<i64>);
    let editing_name = RwSignal::new(String::new());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let confirming = RwSignal::new(None::<i64>);
    let row_error = RwSignal::new(None::<(i64, String)>);
    let may_write = move || session.has(E::WRITE_ROLE);
    let browse = Browse::new();
    // The items the search matches, in the chosen order.
    let matching =
        move || -> Option<Vec<E::Item>> { Some(browse.matching(items.get()?.ok()?, E::search_text, E::name)) };
    let total = Signal::derive(move || matching().map_or(0, |l| l.len() as i64));

    let reset = move || {
        editing.set(None);
        editor.fill(None);
        errors.clear();
    };
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let editing_id = editing.get_untracked();
        let body = match editor.body(editing_id.is_some()) {
            Ok(b) => b.to_string(),
            Err(e) => return errors.local(e),
        };
        let (method, path) = match editing_id {
            Some(id) => ("PUT", format!("{}/{id}", E::PATH)),
            None => ("POST", E::PATH.to_string()),
        };
        run(busy, errors, async move { api::call::<serde_json::Value>(method, &path, Some(body)).await }, move |_| {
            reset();
            items.refetch();
        });
    };
    let remove = move |id: i64| {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("{}/{id}", E::PATH)).await {
                Ok(()) => {
                    confirming.set(None);
                    row_error.set(None);
                    items.refetch();
                }
                Err(e) => row_error.set(Some((id, e.message()))),
            }
        });
    };

    let row = move |item: E::Item| {
        let id = E::id(&item);
        let (item_cells, row_name) = (E::cells(&item), E::name(&item));
        let actions = move || {
            if !may_write() {
                return ().into_any();
            }
            if confirming.get() == Some(id) {
                return view! {
                    <span class="muted">{t!(i18n, common.crud.really_delete)}</span>
                    <button type="button" class="danger" on:click=move |_| remove(id)>{t!(i18n, common.crud.yes_delete)}</button>
                    <button type="button" on:click=move |_| confirming.set(None)>{t!(i18n, common.crud.keep)}</button>
                }
                .into_any();
            }
            let item = item.clone();
            view! {
                <button type="button" on:click=move |_| {
                    editing.set(Some(id));
                    editing_name.set(E::name(&item));
                    editor.fill(Some(&item));
                    errors.clear();
                }>{t!(i18n, common.crud.edit)}</button>
                {E::DELETABLE.then(|| view! {
                    <button type="button" class="danger" on:click=move |_| confirming.set(Some(id))>{t!(i18n, common.crud.delete)}</button>
                })}
            }
            .into_any()
        };
        let error = move || {
            row_error.get().filter(|(i, _)| *i == id).map(|(_, m)| view! { <p class="form-error" role="alert">{m}</p> })
        };
        view! {
            <tr data-testid=format!("row-{}", row_name)>
                {item_cells}
                <td class="actions">{actions}{error}</td>
            </tr>
        }
    };

    let form_noun = noun.clone();
    let form = move || {
        let noun = form_noun.clone();
        may_write().then(|| {
            let form = view! {
                <form class="card form" on:submit=save>
                    <h2>{move || match editing.get() {
                        Some(_) => fill(t_string!(i18n, common.crud.edit_item), &[("noun", &noun), ("name", &editing_name.get())]),
                        None => fill(t_string!(i18n, common.crud.new_item), &[("noun", &noun)]),
                    }}</h2>
                    {editor.form(errors)}
                    <FormErrors errors=errors />
                    <div class="buttons">
                        <button type="submit" class="primary" disabled=move || busy.get()>
                            {move || match (busy.get(), editing.get().is_some()) {
                                (true, _) => t_string!(i18n, common.crud.saving),
                                (false, true) => t_string!(i18n, common.crud.save),
                                (false, false) => t_string!(i18n, common.crud.create),
                            }}
                        </button>
                        {move || editing.get().is_some().then(|| view! {
                            <button type="button" on:click=move |_| reset()>{t!(i18n, common.crud.cancel)}</button>
                        })}
                    </div>
                </form>
            };
            // A new item is made beside the list; an item is changed in a dialog over it,
            // where the reader is (not at the top of a long list).
            if editing.get().is_none() {
                return form.into_any();
            }
            view! {
                <div class="dialog-backdrop">
                    <div class="dialog" role="dialog" aria-modal="true" data-testid="edit-dialog">{form}</div>
                </div>
            }
            .into_any()
        })
    };
    // Escape closes the dialog wherever the focus is (even before its first field took it).
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && editing.get_untracked().is_some() {
            reset();
        }
    });
    on_cleanup(move || escape.remove());
    // The dialog's first field takes the focus when it opens.
    Effect::new(move |_| {
        if editing.get().is_some() {
            request_animation_frame(|| {
                let first = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| {
                        d.query_selector(".dialog input:not([readonly]), .dialog select, .dialog textarea").ok()
                    })
                    .flatten()
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                if let Some(field) = first {
                    let _ = field.focus();
                }
            });
        }
    });

    view! {
        <h1>{title}</h1>
        <p class="muted">{intro}</p>
        <div class="split">
            {form}
            <div class="card wide">
                {browse.search_box()}
                {move || crate::components::loaded(items.get(), |all: Vec<E::Item>| {
                    if all.is_empty() {
                        let empty = fill(t_string!(i18n, common.crud.no_items), &[("noun", &noun)]);
                        return view! { <p class="muted">{empty}</p> }.into_any();
                    }
                    let shown = match browse.page_of(matching().unwrap_or_default()) {
                        Ok(rows) => rows,
                        Err(none) => return none,
                    };
                    let mut headers = E::headers().into_iter();
                    let first = headers.next().unwrap_or_default();
                    view! {
                        <table>
                            <thead><tr>
                                {browse.sort_header(first)}
                                {headers.map(|h| view! { <th>{h}</th> }).collect_view()}
                                <th></th>
                            </tr></thead>
                            <tbody>{shown.into_iter().map(row).collect_view()}</tbody>
                        </table>
                    }
                    .into_any()
                })}
                {browse.pager(total)}
            </div>
        </div>
    }
}
