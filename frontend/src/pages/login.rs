//! The sign-in page; shown at any address while signed out, which stays in place.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::{run, Errors, Field, FormErrors};
use crate::i18n::*;
use crate::session::use_session;

#[component]
pub fn Login() -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        run(busy, errors, session.login(username.get_untracked(), password.get_untracked()), |_| ());
    };
    view! {
        <div class="login">
            <form class="card form" on:submit=submit>
                <h1>"Taskgate"</h1>
                <p class="muted">{t!(i18n, common.login.intro)}</p>
                <Field label=t_string!(i18n, common.login.username) value=username errors=errors field="username" />
                <Field label=t_string!(i18n, common.login.password) value=password errors=errors field="password" kind="password" />
                <FormErrors errors=errors />
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() { t_string!(i18n, common.login.signing_in) } else { t_string!(i18n, common.login.sign_in) }}
                </button>
            </form>
        </div>
    }
}
