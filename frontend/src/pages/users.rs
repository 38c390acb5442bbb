//! Users (admins only): create, change role, reset password, disable.

use api_types::{validate, FieldError, Role, User, UserCreate, UserUpdate};
use leptos::prelude::*;

use crate::components::{local_time, role_text, split_list, Check, Errors, Field, Select};
use crate::crud::{crud_page, opt_text, to_body, Editor};
use crate::i18n::*;

#[derive(Clone, Copy)]
struct UserEditor {
    username: RwSignal<String>,
    password: RwSignal<String>,
    current_password: RwSignal<String>,
    role: RwSignal<String>,
    display_name: RwSignal<String>,
    email: RwSignal<String>,
    groups: RwSignal<String>,
    disabled: RwSignal<bool>,
    /// An existing user is being changed (its username is then read-only).
    editing: RwSignal<bool>,
}

impl Editor for UserEditor {
    type Item = User;
    const PATH: &'static str = "/users";
    fn noun() -> String {
        td_string!(crate::i18n::current(), admin.users.noun).to_string()
    }
    const DELETABLE: bool = false;

    fn new() -> Self {
        UserEditor {
            username: RwSignal::default(),
            password: RwSignal::default(),
            current_password: RwSignal::default(),
            role: RwSignal::new("operator".into()),
            display_name: RwSignal::default(),
            email: RwSignal::default(),
            groups: RwSignal::default(),
            disabled: RwSignal::default(),
            editing: RwSignal::default(),
        }
    }

    fn fill(self, u: Option<&User>) {
        self.editing.set(u.is_some());
        self.username.set(u.map(|u| u.username.clone()).unwrap_or_default());
        self.password.set(String::new());
        self.current_password.set(String::new());
        self.role.set(u.map_or(Role::Operator, |u| u.role).as_str().into());
        self.display_name.set(u.map(|u| u.display_name.clone()).unwrap_or_default());
        self.email.set(u.map(|u| u.email.clone()).unwrap_or_default());
        self.groups.set(u.map(|u| u.groups.join(", ")).unwrap_or_default());
        self.disabled.set(u.is_some_and(|u| u.disabled));
    }

    fn body(self, editing: bool) -> Result<serde_json::Value, FieldError> {
        let password = opt_text(self.password.get_untracked());
        if let Some(p) = &password {
            validate::password("password", p)?;
        }
        let l = crate::i18n::current();
        let role = Role::parse(&self.role.get_untracked())
            .ok_or_else(|| FieldError::new("role", td_string!(l, admin.users.choose_role)))?;
        if editing {
            return to_body(&UserUpdate {
                password,
                current_password: opt_text(self.current_password.get_untracked()),
                role: Some(role),
                display_name: Some(self.display_name.get_untracked()),
                email: Some(self.email.get_untracked()),
                groups: Some(split_list(&self.groups.get_untracked())),
                disabled: Some(self.disabled.get_untracked()),
            });
        }
        let username = self.username.get_untracked();
        validate::username("username", &username)?;
        to_body(&UserCreate {
            username,
            password: password.ok_or_else(|| FieldError::new("password", td_string!(l, admin.users.need_password)))?,
            role,
            display_name: opt_text(self.display_name.get_untracked()),
            email: opt_text(self.email.get_untracked()),
            groups: split_list(&self.groups.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let i18n = use_i18n();
        let roles = Role::ALL.iter().map(|r| (r.as_str().to_string(), role_text(*r))).collect::<Vec<_>>();
        view! {
            // A username never changes (tokens, audit entries and tasks name it).
            <Field label=t_string!(i18n, admin.users.username) value=self.username errors=errors field="username"
                readonly=self.editing />
            <Field label=t_string!(i18n, admin.users.password) value=self.password errors=errors field="password"
                kind="password" hint=t_string!(i18n, admin.users.password_hint) />
            <Field label=t_string!(i18n, admin.users.current_password) value=self.current_password errors=errors
                field="current_password" kind="password" hint=t_string!(i18n, admin.users.current_password_hint) />
            <Select label=t_string!(i18n, admin.users.role) value=self.role options=roles errors=errors field="role" />
            <Field label=t_string!(i18n, admin.users.display_name) value=self.display_name errors=errors
                field="display_name" />
            <Field label=t_string!(i18n, admin.users.email) value=self.email errors=errors field="email" kind="email" />
            <Field label=t_string!(i18n, admin.users.groups_input) value=self.groups errors=errors field="groups" />
            <Check label=t_string!(i18n, admin.users.disabled) value=self.disabled />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = crate::i18n::current();
        [
            td_string!(l, admin.users.user),
            td_string!(l, admin.users.role),
            td_string!(l, admin.users.email),
            td_string!(l, admin.users.groups),
            td_string!(l, admin.users.since),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(u: &User) -> AnyView {
        let disabled = td_string!(crate::i18n::current(), admin.users.disabled_badge);
        view! {
            <td><strong>{u.username.clone()}</strong>" "<span class="muted">{u.display_name.clone()}</span>
                {u.disabled.then(|| view! { " " <span class="badge st-cancelled">{disabled}</span> })}</td>
            <td>{role_text(u.role)}</td>
            <td>{u.email.clone()}</td>
            <td>{u.groups.join(", ")}</td>
            <td class="nowrap">{local_time(&u.created_at)}</td>
        }
        .into_any()
    }

    fn id(u: &User) -> i64 {
        u.id
    }

    fn name(u: &User) -> String {
        u.username.clone()
    }

    fn search_text(u: &User) -> String {
        format!("{} {} {}", u.username, u.display_name, u.email)
    }
}

#[component]
pub fn Users() -> impl IntoView {
    let i18n = use_i18n();
    let roles = Role::ALL.map(role_text);
    let intro = fill(
        t_string!(i18n, admin.users.intro),
        &[("viewer", &roles[0]), ("operator", &roles[1]), ("approver", &roles[2]), ("admin", &roles[3])],
    );
    crud_page::<UserEditor>(t_string!(i18n, admin.users.title).to_string(), intro)
}
