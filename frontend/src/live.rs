//! The live stream of all tasks (`GET /api/v1/tasks/changes`): pages that list or count
//! tasks refresh when the server says a task changed, instead of polling.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use api_types::TaskChange;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api;

/// Changes arriving within this long of each other cause one refresh.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

const PATH: &str = "/api/v1/tasks/changes";

/// The stream as opened, closed when dropped.
struct Open {
    source: web_sys::EventSource,
    _handler: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.source.close();
    }
}

struct Inner {
    open: Option<Open>,
    /// Set when the [`Watch`] is dropped: nothing opens after that.
    closed: bool,
    on_change: Rc<dyn Fn(TaskChange)>,
    on_open: Rc<dyn Fn()>,
}

/// The stream for as long as this is held; closed when dropped.
pub struct Watch {
    inner: Rc<RefCell<Inner>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.closed = true;
        inner.open = None;
    }
}

impl Watch {
    /// Opens the stream with a fresh ticket (a URL never carries the session token);
    /// `on_change` is called with each change. After a network error the browser tries
    /// the same URL again, which is refused (a ticket is good once), and gives up; then a
    /// new ticket is taken and the stream opened again. `on_open` is called each time the stream is
    /// (re)connected: the stream reports what changes from then on, so whatever was read
    /// before may be out of date by then and should be read again.
    pub fn open(on_change: impl Fn(TaskChange) + 'static, on_open: impl Fn() + 'static) -> Watch {
        let inner = Rc::new(RefCell::new(Inner {
            open: None,
            closed: false,
            on_change: Rc::new(on_change),
            on_open: Rc::new(on_open),
        }));
        connect(Rc::downgrade(&inner), 1);
        Watch { inner }
    }
}

/// Takes a ticket and opens the stream into `inner`, unless the watch is gone by then;
/// tries again after `wait` seconds (doubling up to 30, from 1 again once a stream opened)
/// when it cannot.
fn connect(inner: Weak<RefCell<Inner>>, wait: u64) {
    let again = move |inner: Weak<RefCell<Inner>>, wait: u64| {
        set_timeout(
            move || {
                if let Some(held) = inner.upgrade() {
                    held.borrow_mut().open = None;
                    connect(inner, (wait * 2).min(30));
                }
            },
            std::time::Duration::from_secs(wait),
        )
    };
    leptos::task::spawn_local(async move {
        let ticket = api::ticket(PATH).await;
        let Some(held) = inner.upgrade() else { return };
        if held.borrow().closed {
            return;
        }
        let Some(source) = ticket.ok().and_then(|t| web_sys::EventSource::new(&format!("{PATH}?ticket={t}")).ok())
        else {
            again(inner, wait);
            return;
        };
        let (on_change, on_open) = {
            let h = held.borrow();
            (h.on_change.clone(), h.on_open.clone())
        };
        let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
            if let Some(change) = m.data().as_string().and_then(|d| serde_json::from_str::<TaskChange>(&d).ok()) {
                on_change(change);
            }
        });
        let was_open = Rc::new(std::cell::Cell::new(false));
        let opened = {
            let was_open = was_open.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
                was_open.set(true);
                on_open();
            })
        };
        let watched = source.clone();
        let weak = inner.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            // CONNECTING: the browser retries by itself (with this URL's ticket, used up
            // by then: refused, which closes it). CLOSED: it gave up; take a new ticket.
            if watched.ready_state() == web_sys::EventSource::CLOSED {
                again(weak.clone(), if was_open.get() { 1 } else { wait });
            }
        });
        if source.add_event_listener_with_callback("task", handler.as_ref().unchecked_ref()).is_err() {
            source.close();
            return;
        }
        source.set_onopen(Some(opened.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        held.borrow_mut().open = Some(Open { source, _handler: handler, _on_open: opened, _on_error: on_error });
    });
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
    let held = StoredValue::new_local(Some(watch));
    on_cleanup(move || held.set_value(None));
}
