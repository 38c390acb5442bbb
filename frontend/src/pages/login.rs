//! The sign-in page; shown at any address while signed out, which stays in place.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::{run, Errors, Field, FormErrors};
use crate::session::use_session;

#[component]
pub fn Login() -> impl IntoView {
    let session = use_session();
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
                <p class="muted">"Sign in to submit, approve and watch tasks."</p>
                <Field label="Username" value=username errors=errors field="username" />
                <Field label="Password" value=password errors=errors field="password" kind="password" />
                <FormErrors errors=errors />
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </div>
    }
}
