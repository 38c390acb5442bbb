//! The signed-in user's own page: their name and email, their password (which ends every
//! session, this one included), and their API tokens.

use api_types::{TokenInfo, User, UserUpdate};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::{loaded, local_time, role_text, run, Errors, Field, FormErrors};
use crate::i18n::*;
use crate::session::use_session;

#[component]
pub fn Me() -> impl IntoView {
    let i18n = use_i18n();
    let me = LocalResource::new(|| api::get::<User>("/me"));
    view! {
        <h1>{t!(i18n, common.me.title)}</h1>
        {move || loaded(me.get(), move |user: User| view! {
            <div class="split">
                <Profile user=user.clone() />
                <Password user_id=user.id />
            </div>
            <MyTokens />
        })}
    }
}

#[component]
fn Profile(user: User) -> impl IntoView {
    let i18n = use_i18n();
    let display_name = RwSignal::new(user.display_name.clone());
    let email = RwSignal::new(user.email.clone());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let saved = RwSignal::new(false);
    let id = user.id;
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let body = UserUpdate {
            display_name: Some(display_name.get_untracked()),
            email: Some(email.get_untracked()),
            ..Default::default()
        };
        // The form keeps what was saved (read again, the page would lose "Saved.").
        run(busy, errors, async move { api::put::<User>(&format!("/users/{id}"), &body).await }, move |_| {
            saved.set(true)
        });
    };
    view! {
        <form class="card form" on:submit=save data-testid="profile">
            <h2>{t!(i18n, common.me.profile)}</h2>
            <dl class="facts">
                <dt>{t!(i18n, common.me.username)}</dt><dd>{user.username.clone()}</dd>
                <dt>{t!(i18n, common.me.role)}</dt><dd>{role_text(user.role)}</dd>
                <dt>{t!(i18n, common.me.since)}</dt><dd>{local_time(&user.created_at)}</dd>
            </dl>
            <Field label=t_string!(i18n, common.me.display_name) value=display_name errors=errors field="display_name" />
            <Field label=t_string!(i18n, common.me.email) value=email errors=errors field="email" kind="email" />
            <FormErrors errors=errors />
            <div class="buttons">
                <button type="submit" class="primary" disabled=move || busy.get()>{t!(i18n, common.crud.save)}</button>
                {move || saved.get().then(|| view! { <span class="muted" role="status">{t!(i18n, common.me.saved)}</span> })}
            </div>
        </form>
    }
}

#[component]
fn Password(user_id: i64) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let change = move |ev: SubmitEvent| {
        ev.prevent_default();
        if new.get_untracked() != repeat.get_untracked() {
            return errors.local(api_types::FieldError::new("repeat", t_string!(i18n, common.me.mismatch)));
        }
        let body = UserUpdate {
            password: Some(new.get_untracked()),
            current_password: Some(current.get_untracked()),
            ..Default::default()
        };
        // A new password ends every session of the account, this one too: sign in again.
        run(busy, errors, async move { api::put::<User>(&format!("/users/{user_id}"), &body).await }, move |_| {
            session.logout()
        });
    };
    view! {
        <form class="card form" on:submit=change data-testid="password">
            <h2>{t!(i18n, common.me.password)}</h2>
            <p class="hint">{t!(i18n, common.me.password_hint)}</p>
            <Field label=t_string!(i18n, common.me.current_password) value=current errors=errors
                field="current_password" kind="password" />
            <Field label=t_string!(i18n, common.me.new_password) value=new errors=errors field="password" kind="password" />
            <Field label=t_string!(i18n, common.me.repeat_password) value=repeat errors=errors field="repeat"
                kind="password" />
            <FormErrors errors=errors />
            <button type="submit" class="primary" disabled=move || busy.get()>{t!(i18n, common.me.change_password)}</button>
        </form>
    }
}

#[component]
fn MyTokens() -> impl IntoView {
    let i18n = use_i18n();
    let tokens = LocalResource::new(|| api::get::<Vec<TokenInfo>>("/tokens"));
    view! {
        <div class="card wide" data-testid="my-tokens">
            <h2>{t!(i18n, common.me.tokens)}</h2>
            {move || loaded(tokens.get(), move |list: Vec<TokenInfo>| {
                // Tokens that still work: not revoked, not expired.
                let now = js_sys::Date::now();
                let expired = |at: &str| js_sys::Date::new(&at.into()).get_time() <= now;
                let live: Vec<TokenInfo> = list
                    .into_iter()
                    .filter(|t| t.revoked_at.is_none() && !t.expires_at.as_deref().is_some_and(expired))
                    .collect();
                if live.is_empty() {
                    return view! { <p class="muted">{t!(i18n, common.me.no_tokens)}</p> }.into_any();
                }
                view! {
                    <table>
                        <thead><tr>
                            <th>{t!(i18n, common.me.token_name)}</th>
                            <th>{t!(i18n, common.me.token_created)}</th>
                            <th>{t!(i18n, common.me.token_expires)}</th>
                            <th>{t!(i18n, common.me.token_last_used)}</th>
                        </tr></thead>
                        <tbody>
                            {live.into_iter().map(|t| {
                                let never = t_string!(i18n, common.me.never);
                                view! {
                                    <tr>
                                        <td>{t.name}</td>
                                        <td>{local_time(&t.created_at)}</td>
                                        <td>{t.expires_at.as_deref().map(local_time).unwrap_or_else(|| never.to_string())}</td>
                                        <td>{t.last_used_at.as_deref().map(local_time).unwrap_or_else(|| never.to_string())}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            })}
            <p><A href="/tokens">{t!(i18n, common.me.manage_tokens)}</A></p>
        </div>
    }
}
