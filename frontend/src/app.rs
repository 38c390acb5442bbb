//! The shell: the login gate, the navigation and the routes.

use api_types::Role;
use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::path;

use crate::i18n::*;
use crate::pages;
use crate::session::{Auth, Session};

#[component]
pub fn App() -> impl IntoView {
    let session = Session::start();
    // The language is kept for a year for the whole site (without a path the browser would
    // keep one per folder, and `/tasks/1` could not change what `/` chose).
    let cookie = leptos_i18n::context::CookieOptions::<Locale>::default().path("/").max_age(365_i64 * 24 * 3600 * 1000);
    view! {
        <I18nContextProvider cookie_options=cookie>
            <Gate session=session />
        </I18nContextProvider>
    }
}

/// The login gate, inside the language context.
#[component]
fn Gate(session: Session) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Router>
            {move || match session.auth.get() {
                Auth::Checking => view! { <p class="muted center" aria-busy="true">{t!(i18n, common.loading)}</p> }.into_any(),
                Auth::SignedOut => view! { <pages::login::Login /> }.into_any(),
                Auth::SignedIn(_) => view! { <Shell /> }.into_any(),
            }}
        </Router>
    }
}

/// Navigation entries: path, text, least role.
fn nav(i18n: leptos_i18n::I18nContext<Locale>) -> [(&'static str, &'static str, Role); 16] {
    [
        ("/", t_string!(i18n, common.nav.dashboard), Role::Viewer),
        ("/tasks", t_string!(i18n, common.nav.tasks), Role::Viewer),
        ("/tasks/new", t_string!(i18n, common.nav.submit), Role::Operator),
        ("/approvals", t_string!(i18n, common.nav.approvals), Role::Approver),
        ("/templates", t_string!(i18n, common.nav.templates), Role::Viewer),
        ("/commands", t_string!(i18n, common.nav.commands), Role::Viewer),
        ("/aliases", t_string!(i18n, common.nav.aliases), Role::Viewer),
        ("/hosts", t_string!(i18n, common.nav.hosts), Role::Viewer),
        ("/credentials", t_string!(i18n, common.nav.credentials), Role::Viewer),
        ("/schedules", t_string!(i18n, common.nav.schedules), Role::Viewer),
        ("/gitlab", t_string!(i18n, common.nav.gitlab), Role::Viewer),
        ("/tokens", t_string!(i18n, common.nav.tokens), Role::Viewer),
        ("/users", t_string!(i18n, common.nav.users), Role::Admin),
        ("/mail", t_string!(i18n, common.nav.mail), Role::Admin),
        ("/audit", t_string!(i18n, common.nav.audit), Role::Admin),
        ("/me", t_string!(i18n, common.nav.me), Role::Viewer),
    ]
}

/// The menu's language switch: the choice is kept in a cookie, and the page is loaded
/// again so that every text, including those worked out once, is in the new language.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let choose = move |ev: leptos::ev::Event| {
        let wanted = match event_target_value(&ev).as_str() {
            "zh-CN" => Locale::zh_CN,
            _ => Locale::en,
        };
        if wanted != i18n.get_locale_untracked() {
            i18n.set_locale(wanted);
            // The cookie is written by an effect: reload once it has run.
            set_timeout(
                || {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().reload();
                    }
                },
                std::time::Duration::from_millis(50),
            );
        }
    };
    let current = move || i18n.get_locale().as_str();
    view! {
        <select class="lang" aria-label=move || t_string!(i18n, common.language) data-testid="language"
            on:change=choose prop:value=current>
            <option value="en">"English"</option>
            <option value="zh-CN">"简体中文"</option>
        </select>
    }
}

#[component]
fn Shell() -> impl IntoView {
    let session = crate::session::use_session();
    let open = RwSignal::new(false);
    let i18n = use_i18n();
    let links = move || {
        nav(i18n)
            .into_iter()
            .filter(|(_, _, role)| session.has(*role))
            .map(|(href, text, _)| view! { <A href=href exact=true on:click=move |_| open.set(false)>{text}</A> })
            .collect_view()
    };
    view! {
        <header class="top">
            <a class="brand" href="/">"Taskgate"</a>
            <button type="button" class="menu" aria-label=move || t_string!(i18n, common.menu) on:click=move |_| open.update(|o| *o = !*o)>"☰"</button>
            <nav class:open=move || open.get()>{links}</nav>
            <div class="who">
                <span data-testid="whoami">{move || session.username()}</span>
                <span class="muted">{move || session.user().map(|u| crate::components::role_text(u.role)).unwrap_or_default()}</span>
                <LanguageSwitch />
                <button type="button" class="link" on:click=move |_| session.logout()>{t!(i18n, common.sign_out)}</button>
            </div>
        </header>
        <main>
            <Routes fallback=move || view! { <h1>{t!(i18n, common.not_found_title)}</h1><p>{t!(i18n, common.not_found_text)}</p> }>
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
                <Route path=path!("/me") view=pages::me::Me />
            </Routes>
        </main>
    }
}
