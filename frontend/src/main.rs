//! Taskgate's web UI: a leptos client-side app served by the Taskgate server.

mod api;
mod app;
mod components;
mod crud;
mod i18n;
mod live;
mod pages;
mod session;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
