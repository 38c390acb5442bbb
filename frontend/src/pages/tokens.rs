//! Long-lived API tokens for scripts: shown once at creation, revocable at once.

use api_types::{Scope, TokenCreate, TokenCreated, TokenInfo};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api;
use crate::components::{loaded, local_time, run, Errors, Field, FormErrors};
use crate::crud::{opt_int, Browse};
use crate::i18n::*;
use crate::session::use_session;

#[component]
pub fn Tokens() -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let tokens = LocalResource::new(|| api::get::<Vec<TokenInfo>>("/tokens"));
    let name = RwSignal::new(String::new());
    let days = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<Scope>::new());
    let created = RwSignal::new(None::<String>);
    let copied = RwSignal::new(false);
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let row_error = RwSignal::new(None::<String>);
    let browse = Browse::new();
    let matching = move |list: Vec<TokenInfo>| {
        browse.matching(
            list,
            |t| {
                let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
                format!("{} {} {scopes}", t.name, t.owner)
            },
            |t| t.name.clone(),
        )
    };
    let total = Signal::derive(move || tokens.get().and_then(Result::ok).map_or(0, |l| matching(l).len() as i64));

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let expires_in_days = match opt_int("expires_in_days", &days.get_untracked()) {
            Ok(d) => d,
            Err(e) => return errors.local(e),
        };
        let scopes = chosen.get_untracked();
        let body =
            TokenCreate { name: name.get_untracked(), scopes: (!scopes.is_empty()).then_some(scopes), expires_in_days };
        copied.set(false);
        run(busy, errors, async move { api::post::<TokenCreated>("/tokens", &body).await }, move |t| {
            created.set(Some(t.token));
            name.set(String::new());
            tokens.refetch();
        });
    };
    let copy = move |_| {
        if let (Some(w), Some(t)) = (web_sys::window(), created.get_untracked()) {
            let _ = w.navigator().clipboard().write_text(&t);
            copied.set(true);
        }
    };
    let revoke = move |id: String| {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/tokens/{id}")).await {
                Ok(()) => tokens.refetch(),
                Err(e) => row_error.set(Some(e.message())),
            }
        });
    };
    let scopes = move || {
        let role = session.user().map(|u| u.role);
        Scope::ALL
            .into_iter()
            .filter(|s| role.is_some_and(|r| r >= s.min_role()))
            .map(|s| {
                view! {
                    <label class="check">
                        <input type="checkbox" prop:checked=move || chosen.get().contains(&s)
                            on:change=move |_| chosen.update(|c| match c.iter().position(|x| *x == s) {
                                Some(i) => { c.remove(i); }
                                None => c.push(s),
                            }) />
                        <code>{s.as_str()}</code>
                    </label>
                }
            })
            .collect_view()
    };
    let create_text = move || match busy.get() {
        true => t_string!(i18n, admin.tokens.creating),
        false => t_string!(i18n, admin.tokens.create),
    };
    let copy_text = move || match copied.get() {
        true => t_string!(i18n, admin.tokens.copied),
        false => t_string!(i18n, admin.tokens.copy),
    };
    let intro = fill(t_string!(i18n, admin.tokens.intro), &[("header", &"Authorization: Bearer <token>")]);
    view! {
        <h1>{t!(i18n, admin.tokens.title)}</h1>
        <p class="muted">{intro}</p>
        <div class="split">
            <form class="card form" on:submit=create>
                <h2>{t!(i18n, admin.tokens.new_token)}</h2>
                <Field label=t_string!(i18n, admin.shared.name) value=name errors=errors field="name"
                    placeholder="gitlab-hook" />
                <fieldset><legend>{t!(i18n, admin.tokens.scopes_legend)}</legend>{scopes}</fieldset>
                <Field label=t_string!(i18n, admin.tokens.expires_in_days) value=days errors=errors
                    field="expires_in_days" kind="number" placeholder=t_string!(i18n, admin.tokens.never) />
                <FormErrors errors=errors />
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {create_text}
                </button>
                {move || created.get().map(|t| view! {
                    <div class="secret-once">
                        <p><strong>{t!(i18n, admin.tokens.copy_now)}</strong></p>
                        <code data-testid="new-token">{t}</code>
                        <button type="button" on:click=copy>{copy_text}</button>
                    </div>
                })}
            </form>
            <div class="card wide">
                {browse.search_box()}
                {move || row_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
                {move || tokens.get().and_then(Result::ok).is_some_and(|l| l.is_empty()).then(|| view! {
                    <p class="muted" data-testid="empty">{t!(i18n, admin.tokens.none)}</p>
                })}
                {move || loaded(tokens.get(), move |all: Vec<TokenInfo>| {
                    if all.is_empty() {
                        return ().into_any(); // the empty state above says so
                    }
                    let list = match browse.page_of(matching(all)) {
                        Ok(rows) => rows,
                        Err(none) => return none,
                    };
                    view! {
                    <table>
                        <thead><tr>
                            {browse.sort_header(t_string!(i18n, admin.shared.name).to_string())}
                            <th>{t!(i18n, admin.tokens.owner)}</th>
                            <th>{t!(i18n, admin.tokens.scopes)}</th>
                            <th>{t!(i18n, admin.tokens.expires)}</th>
                            <th>{t!(i18n, admin.tokens.last_used)}</th>
                            <th></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|t| {
                                let id = t.id.clone();
                                let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                                let never = || t_string!(i18n, admin.tokens.never).to_string();
                                let expires = t.expires_at.as_deref().map(local_time).unwrap_or_else(never);
                                let last_used = t.last_used_at.as_deref().map(local_time).unwrap_or_default();
                                let revoked = t.revoked_at.map(|at| {
                                    fill(t_string!(i18n, admin.tokens.revoked_at), &[("at", &local_time(&at))])
                                });
                                view! {
                                    <tr data-testid=format!("row-{}", t.name)>
                                        <td>{t.name.clone()}</td>
                                        <td>{t.owner.clone()}</td>
                                        <td><code>{scopes}</code></td>
                                        <td class="nowrap">{expires}</td>
                                        <td class="nowrap">{last_used}</td>
                                        <td>{match revoked {
                                            Some(text) => view! { <span class="muted">{text}</span> }.into_any(),
                                            None => view! {
                                                <button type="button" class="danger"
                                                    on:click=move |_| revoke(id.clone())>
                                                    {t!(i18n, admin.tokens.revoke)}
                                                </button>
                                            }
                                            .into_any(),
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    }
                    .into_any()
                })}
                {browse.pager(total)}
            </div>
        </div>
    }
}
