//! The shell: the login gate, the navigation and the routes.

use api_types::Role;
use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::path;

use crate::pages;
use crate::session::{Auth, Session};

#[component]
pub fn App() -> impl IntoView {
    let session = Session::start();
    view! {
        <Router>
            {move || match session.auth.get() {
                Auth::Checking => view! { <p class="muted center" aria-busy="true">"Loading…"</p> }.into_any(),
                Auth::SignedOut => view! { <pages::login::Login /> }.into_any(),
                Auth::SignedIn(_) => view! { <Shell /> }.into_any(),
            }}
        </Router>
    }
}

/// Navigation entries: path, text, least role.
const NAV: &[(&str, &str, Role)] = &[
    ("/", "Dashboard", Role::Viewer),
    ("/tasks", "Tasks", Role::Viewer),
    ("/tasks/new", "Submit task", Role::Operator),
    ("/approvals", "Approvals", Role::Approver),
    ("/templates", "Templates", Role::Viewer),
    ("/commands", "Commands", Role::Viewer),
    ("/aliases", "Aliases", Role::Viewer),
    ("/hosts", "Hosts", Role::Viewer),
    ("/credentials", "Credentials", Role::Viewer),
    ("/schedules", "Schedules", Role::Viewer),
    ("/gitlab", "GitLab", Role::Viewer),
    ("/tokens", "Tokens", Role::Viewer),
    ("/users", "Users", Role::Admin),
    ("/mail", "Mail", Role::Admin),
    ("/audit", "Audit", Role::Admin),
];

#[component]
fn Shell() -> impl IntoView {
    let session = crate::session::use_session();
    let open = RwSignal::new(false);
    let links = move || {
        NAV.iter()
            .filter(|(_, _, role)| session.has(*role))
            .map(|(href, text, _)| view! { <A href=*href exact=true on:click=move |_| open.set(false)>{*text}</A> })
            .collect_view()
    };
    view! {
        <header class="top">
            <a class="brand" href="/">"Taskgate"</a>
            <button type="button" class="menu" aria-label="Menu" on:click=move |_| open.update(|o| *o = !*o)>"☰"</button>
            <nav class:open=move || open.get()>{links}</nav>
            <div class="who">
                <span data-testid="whoami">{move || session.username()}</span>
                <span class="muted">{move || session.user().map(|u| u.role.as_str()).unwrap_or_default()}</span>
                <button type="button" class="link" on:click=move |_| session.logout()>"Sign out"</button>
            </div>
        </header>
        <main>
            <Routes fallback=|| view! { <h1>"Not found"</h1><p>"No page lives at this address."</p> }>
                <Route path=path!("/") view=pages::dashboard::Dashboard />
                <Route path=path!("/login") view=|| view! { <Redirect path="/" /> } />
                <Route path=path!("/tasks") view=pages::tasks::TaskList />
                <Route path=path!("/tasks/new") view=pages::submit::Submit />
                <Route path=path!("/tasks/:id") view=pages::task_detail::TaskDetail />
                <Route path=path!("/approvals") view=pages::approvals::Approvals />
                <Route path=path!("/templates") view=pages::templates::TemplateList />
                <Route path=path!("/templates/new") view=pages::templates::TemplateEditor />
                <Route path=path!("/templates/:id") view=pages::templates::TemplateEditor />
                <Route path=path!("/commands") view=pages::library::Commands />
                <Route path=path!("/aliases") view=pages::library::Aliases />
                <Route path=path!("/hosts") view=pages::library::Hosts />
                <Route path=path!("/credentials") view=pages::library::Credentials />
                <Route path=path!("/schedules") view=pages::schedules::Schedules />
                <Route path=path!("/gitlab") view=pages::gitlab::GitlabRules />
                <Route path=path!("/tokens") view=pages::tokens::Tokens />
                <Route path=path!("/users") view=pages::users::Users />
                <Route path=path!("/mail") view=pages::mail::Mail />
                <Route path=path!("/audit") view=pages::audit::Audit />
            </Routes>
        </main>
    }
}
