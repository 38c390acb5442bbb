//! Who is signed in. The token lives in `localStorage`; the user is fetched from `/me`.

use api_types::{LoginRequest, LoginResponse, Role, User};
use leptos::prelude::*;

use crate::api::{self, ApiError};

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// A stored token is being checked.
    Checking,
    SignedOut,
    SignedIn(User),
}

#[derive(Clone, Copy)]
pub struct Session {
    pub auth: RwSignal<Auth>,
}

thread_local! {
    static CURRENT: std::cell::Cell<Option<Session>> = const { std::cell::Cell::new(None) };
}

impl Session {
    /// Creates the session, provides it as context and checks a stored token.
    pub fn start() -> Session {
        let start = if api::stored_token().is_some() { Auth::Checking } else { Auth::SignedOut };
        let session = Session { auth: RwSignal::new(start) };
        CURRENT.with(|c| c.set(Some(session)));
        provide_context(session);
        if api::stored_token().is_some() {
            leptos::task::spawn_local(async move {
                match api::get::<User>("/me").await {
                    Ok(user) => session.auth.set(Auth::SignedIn(user)),
                    Err(_) => session.auth.set(Auth::SignedOut),
                }
            });
        }
        session
    }

    pub async fn login(self, username: String, password: String) -> Result<(), ApiError> {
        let answer: LoginResponse = api::post("/auth/login", &LoginRequest { username, password }).await?;
        api::store_token(Some(&answer.token));
        self.auth.set(Auth::SignedIn(answer.user));
        Ok(())
    }

    pub fn logout(self) {
        api::store_token(None);
        self.auth.set(Auth::SignedOut);
    }

    pub fn user(self) -> Option<User> {
        match self.auth.get() {
            Auth::SignedIn(u) => Some(u),
            _ => None,
        }
    }

    /// Whether the signed-in user holds at least `role` (tracked).
    pub fn has(self, role: Role) -> bool {
        self.user().is_some_and(|u| u.role >= role)
    }

    pub fn username(self) -> String {
        self.user().map(|u| u.username).unwrap_or_default()
    }

    /// The signed-in username, read once (outside reactive code).
    pub fn username_now(self) -> String {
        self.auth.with_untracked(|a| match a {
            Auth::SignedIn(u) => u.username.clone(),
            _ => String::new(),
        })
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// The server refused the token: show the login page (the current path is kept).
pub fn signed_out() {
    if let Some(s) = CURRENT.with(|c| c.get()) {
        s.auth.set(Auth::SignedOut);
    }
}
