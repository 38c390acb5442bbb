//! The shell: the login gate, the navigation and the routes.

use api_types::Role;
use leptos::prelude::*;
use leptos::wasm_split::SplitLoaderError;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::path;
use leptos_router::{Lazy, LazyRoute};

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
    let fetching = RwSignal::new(0u32);
    PARTS_FETCHING.set(Some(fetching));
    let links = move || {
        nav(i18n)
            .into_iter()
            .filter(|(_, _, role)| session.has(*role))
            .map(|(href, text, _)| view! { <A href=href exact=true on:click=move |_| open.set(false)>{text}</A> })
            .collect_view()
    };
    view! {
        // While a page's part of the bundle is on its way (after a short delay, so that a
        // part already here shows nothing): the old page stays until the new one can be drawn.
        <div class="part-loading" role="progressbar" aria-label=move || t_string!(i18n, common.loading)
            data-testid="page-loading" hidden=move || fetching.get() == 0></div>
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
                <Route path=path!("/tasks") view={Lazy::<TasksRoute>::new()} />
                <Route path=path!("/tasks/new") view={Lazy::<SubmitRoute>::new()} />
                <Route path=path!("/tasks/:id") view={Lazy::<TaskRoute>::new()} />
                <Route path=path!("/approvals") view={Lazy::<ApprovalsRoute>::new()} />
                <Route path=path!("/templates") view={Lazy::<TemplatesRoute>::new()} />
                <Route path=path!("/templates/new") view={Lazy::<TemplateRoute>::new()} />
                <Route path=path!("/templates/:id") view={Lazy::<TemplateRoute>::new()} />
                <Route path=path!("/commands") view={Lazy::<CommandsRoute>::new()} />
                <Route path=path!("/aliases") view={Lazy::<AliasesRoute>::new()} />
                <Route path=path!("/hosts") view={Lazy::<HostsRoute>::new()} />
                <Route path=path!("/credentials") view={Lazy::<CredentialsRoute>::new()} />
                <Route path=path!("/schedules") view={Lazy::<SchedulesRoute>::new()} />
                <Route path=path!("/gitlab") view={Lazy::<GitlabRoute>::new()} />
                <Route path=path!("/tokens") view={Lazy::<TokensRoute>::new()} />
                <Route path=path!("/users") view={Lazy::<UsersRoute>::new()} />
                <Route path=path!("/mail") view={Lazy::<MailRoute>::new()} />
                <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()} />
                <Route path=path!("/me") view={Lazy::<MeRoute>::new()} />
            </Routes>
        </main>
    }
}

// The pages are loaded on first use, in four parts of the bundle (scripts/build-ui.sh
// splits it at each `wasm_split` function): a cold load fetches the shell, the sign-in
// form and the dashboard only. Few parts rather than one per page: code two parts share
// goes into a separate file, and one part per page made some 200 of them. A part that
// does not arrive (`fallible`: an error, not a panic that would stop the whole UI) leaves
// a page that says so.

#[derive(Clone, Copy)]
enum TaskPage {
    List,
    Submit,
    Approvals,
}

#[leptos::wasm_split::wasm_split(task_pages, wasm_split_path = leptos::wasm_split, fallible)]
fn task_pages(page: TaskPage) -> Result<AnyView, SplitLoaderError> {
    Ok(match page {
        TaskPage::List => pages::tasks::TaskList().into_any(),
        TaskPage::Submit => pages::submit::Submit().into_any(),
        TaskPage::Approvals => pages::approvals::Approvals().into_any(),
    })
}

/// The task page: its own part, the largest (the grid, the log viewer).
#[leptos::wasm_split::wasm_split(task_run_page, wasm_split_path = leptos::wasm_split, fallible)]
fn task_run_page(_: ()) -> Result<AnyView, SplitLoaderError> {
    Ok(pages::task_detail::TaskDetail().into_any())
}

#[derive(Clone, Copy)]
enum LibraryPage {
    Templates,
    Template,
    Commands,
    Aliases,
    Hosts,
    Credentials,
    Schedules,
    Gitlab,
}

#[leptos::wasm_split::wasm_split(library_pages, wasm_split_path = leptos::wasm_split, fallible)]
fn library_pages(page: LibraryPage) -> Result<AnyView, SplitLoaderError> {
    Ok(match page {
        LibraryPage::Templates => pages::templates::TemplateList().into_any(),
        LibraryPage::Template => pages::templates::TemplateEditor().into_any(),
        LibraryPage::Commands => pages::library::Commands().into_any(),
        LibraryPage::Aliases => pages::library::Aliases().into_any(),
        LibraryPage::Hosts => pages::library::Hosts().into_any(),
        LibraryPage::Credentials => pages::library::Credentials().into_any(),
        LibraryPage::Schedules => pages::schedules::Schedules().into_any(),
        LibraryPage::Gitlab => pages::gitlab::GitlabRules().into_any(),
    })
}

#[derive(Clone, Copy)]
enum AccountPage {
    Tokens,
    Users,
    Mail,
    Audit,
    Me,
}

#[leptos::wasm_split::wasm_split(account_pages, wasm_split_path = leptos::wasm_split, fallible)]
fn account_pages(page: AccountPage) -> Result<AnyView, SplitLoaderError> {
    Ok(match page {
        AccountPage::Tokens => pages::tokens::Tokens().into_any(),
        AccountPage::Users => pages::users::Users().into_any(),
        AccountPage::Mail => pages::mail::Mail().into_any(),
        AccountPage::Audit => pages::audit::Audit().into_any(),
        AccountPage::Me => pages::me::Me().into_any(),
    })
}

/// How long a page's part of the bundle may take to arrive before the page says it could
/// not be loaded (the slow link of bench/load brings the largest in under 2 s).
const PART_TIMEOUT_MS: i32 = 30_000;

thread_local! {
    /// How many pages' parts are being fetched (the shell's progress bar shows while any is).
    static PARTS_FETCHING: std::cell::Cell<Option<RwSignal<u32>>> = const { std::cell::Cell::new(None) };
}

/// Counts one part as being fetched for as long as it lives (a navigation elsewhere drops
/// the load, and this with it).
struct Fetching(Option<RwSignal<u32>>);

impl Fetching {
    fn start() -> Fetching {
        let count = PARTS_FETCHING.get();
        if let Some(c) = count {
            c.try_update(|n| *n += 1);
        }
        Fetching(count)
    }
}

impl Drop for Fetching {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.try_update(|n| *n = n.saturating_sub(1));
        }
    }
}

/// Resolves after `ms` milliseconds, in a task of its own (0: the next task), so that the
/// work that follows is not added to the one that ran before it.
pub async fn sleep(ms: i32) {
    let wait = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(wait).await;
}

/// What shows when a page's part of the bundle could not be fetched.
fn load_failed() -> AnyView {
    let i18n = use_i18n();
    let reload = |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    };
    view! {
        <h1>{t!(i18n, common.load_failed_title)}</h1>
        <p role="alert" data-testid="load-failed">{t!(i18n, common.load_failed_text)}</p>
        <button type="button" on:click=reload>{t!(i18n, common.reload)}</button>
    }
    .into_any()
}

/// A route whose view is `$load`, a split function (awaited: its part of the bundle is
/// fetched the first time).
macro_rules! lazy_route {
    ($route:ident, $load:expr) => {
        struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                use futures_util::future::{select, Either};
                let _fetching = Fetching::start();
                // A fetch that stalls (rather than fails) must not leave the old page up,
                // with the address already changed, for as long as the network likes.
                let load = std::pin::pin!($load);
                match select(load, std::pin::pin!(sleep(PART_TIMEOUT_MS))).await {
                    Either::Left((Ok(view), _)) => view,
                    _ => load_failed(),
                }
            }
        }
    };
}

lazy_route!(TasksRoute, task_pages(TaskPage::List));
lazy_route!(SubmitRoute, task_pages(TaskPage::Submit));
lazy_route!(ApprovalsRoute, task_pages(TaskPage::Approvals));
lazy_route!(TaskRoute, task_run_page(()));
lazy_route!(TemplatesRoute, library_pages(LibraryPage::Templates));
lazy_route!(TemplateRoute, library_pages(LibraryPage::Template));
lazy_route!(CommandsRoute, library_pages(LibraryPage::Commands));
lazy_route!(AliasesRoute, library_pages(LibraryPage::Aliases));
lazy_route!(HostsRoute, library_pages(LibraryPage::Hosts));
lazy_route!(CredentialsRoute, library_pages(LibraryPage::Credentials));
lazy_route!(SchedulesRoute, library_pages(LibraryPage::Schedules));
lazy_route!(GitlabRoute, library_pages(LibraryPage::Gitlab));
lazy_route!(TokensRoute, account_pages(AccountPage::Tokens));
lazy_route!(UsersRoute, account_pages(AccountPage::Users));
lazy_route!(MailRoute, account_pages(AccountPage::Mail));
lazy_route!(AuditRoute, account_pages(AccountPage::Audit));
lazy_route!(MeRoute, account_pages(AccountPage::Me));
