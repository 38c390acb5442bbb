//! The live stream of all tasks (`GET /api/v1/tasks/changes`): pages that list or count
//! tasks refresh when the server says a task changed, instead of polling.

use api_types::TaskChange;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api;

/// Changes arriving within this long of each other cause one refresh.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// An open stream; closed when dropped.
pub struct Watch {
    source: web_sys::EventSource,
    _handler: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.source.close();
    }
}

impl Watch {
    /// Opens the stream; `on_change` is called with each change. The browser reconnects
    /// by itself after a network error. `on_open` is called each time the stream is
    /// (re)connected: the stream reports what changes from then on, so whatever was read
    /// before may be out of date by then and should be read again.
    pub fn open(on_change: impl Fn(TaskChange) + 'static, on_open: impl Fn() + 'static) -> Option<Watch> {
        let token = api::stored_token().unwrap_or_default();
        let source =
            web_sys::EventSource::new(&format!("/api/v1/tasks/changes?access_token={}", api::q(&token))).ok()?;
        let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
            if let Some(change) = m.data().as_string().and_then(|d| serde_json::from_str::<TaskChange>(&d).ok()) {
                on_change(change);
            }
        });
        source.add_event_listener_with_callback("task", handler.as_ref().unchecked_ref()).ok()?;
        let opened = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| on_open());
        source.set_onopen(Some(opened.as_ref().unchecked_ref()));
        Some(Watch { source, _handler: handler, _on_open: opened })
    }
}

/// For the life of the calling component: `refresh` once after each burst of changes
/// that `wanted` accepts, and when the stream (re)connects.
pub fn refresh_on_change(wanted: impl Fn(&TaskChange) -> bool + 'static, refresh: impl Fn() + Clone + 'static) {
    let due = StoredValue::new(false);
    let schedule = {
        let refresh = refresh.clone();
        move || {
            if due.try_get_value() != Some(false) {
                return;
            }
            due.set_value(true);
            let refresh = refresh.clone();
            set_timeout(
                move || {
                    if due.try_set_value(false).is_none() {
                        refresh();
                    }
                },
                SETTLE,
            );
        }
    };
    let on_open = schedule.clone();
    let watch = Watch::open(
        move |change| {
            if wanted(&change) {
                schedule();
            }
        },
        on_open,
    );
    let held = StoredValue::new_local(watch);
    on_cleanup(move || held.set_value(None));
}
