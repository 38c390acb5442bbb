//! The library: commands, parameter aliases, hosts and credentials.

use api_types::{
    validate, Alias, AliasInput, Command, CommandInput, Credential, CredentialInput, CredentialKind, FieldError, Host,
    HostInput, ParamType,
};
use leptos::prelude::*;

use crate::api;
use crate::components::{plain_options, split_list, Check, Errors, Field, Select};
use crate::crud::{crud_page, opt_int, opt_text, to_body, Editor};
use crate::i18n::*;

/// A parameter type (`string`, `int`, …) in the reader's language; an unknown one as it is.
fn param_type_text(l: Locale, kind: &str) -> String {
    let text = match kind {
        "string" => td_string!(l, library.aliases.type_string),
        "int" => td_string!(l, library.aliases.type_int),
        "bool" => td_string!(l, library.aliases.type_bool),
        "enum" => td_string!(l, library.aliases.type_enum),
        "datetime" => td_string!(l, library.aliases.type_datetime),
        other => return other.to_string(),
    };
    text.to_string()
}

#[derive(Clone, Copy)]
struct CommandEditor {
    name: RwSignal<String>,
    body: RwSignal<String>,
    interpreter: RwSignal<String>,
    timeout: RwSignal<String>,
    description: RwSignal<String>,
}

impl Editor for CommandEditor {
    type Item = Command;
    const PATH: &'static str = "/commands";
    fn noun() -> String {
        td_string!(current(), library.commands.noun).to_string()
    }

    fn new() -> Self {
        CommandEditor {
            name: RwSignal::default(),
            body: RwSignal::default(),
            interpreter: RwSignal::new("bash".into()),
            timeout: RwSignal::new("600".into()),
            description: RwSignal::default(),
        }
    }

    fn fill(self, c: Option<&Command>) {
        self.name.set(c.map(|c| c.name.clone()).unwrap_or_default());
        self.body.set(c.map(|c| c.body.clone()).unwrap_or_default());
        self.interpreter.set(c.map_or("bash".into(), |c| c.interpreter.clone()));
        self.timeout.set(c.map_or(600, |c| c.timeout_secs).to_string());
        self.description.set(c.map(|c| c.description.clone()).unwrap_or_default());
    }

    fn body(self, _: bool) -> Result<serde_json::Value, FieldError> {
        let name = self.name.get_untracked();
        validate::name("name", &name)?;
        if self.body.get_untracked().trim().is_empty() {
            return Err(FieldError::new("body", td_string!(current(), library.commands.body_required)));
        }
        to_body(&CommandInput {
            name,
            body: self.body.get_untracked(),
            interpreter: opt_text(self.interpreter.get_untracked()),
            timeout_secs: opt_int("timeout_secs", &self.timeout.get_untracked())?,
            description: opt_text(self.description.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let i18n = use_i18n();
        // The parameter syntax stays out of the catalogue text.
        let body_hint = fill(t_string!(i18n, library.commands.body_hint), &[("code", &"{{ KEY }}")]);
        view! {
            <Field label=t_string!(i18n, library.shared.name) value=self.name errors=errors field="name" />
            <Field label=t_string!(i18n, library.commands.body) value=self.body errors=errors field="body"
                multiline=true hint=body_hint />
            <Field label=t_string!(i18n, library.commands.interpreter) value=self.interpreter errors=errors
                field="interpreter" />
            <Field label=t_string!(i18n, library.shared.timeout_secs) value=self.timeout errors=errors
                field="timeout_secs" kind="number" />
            <Field label=t_string!(i18n, library.shared.description) value=self.description errors=errors
                field="description" />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = current();
        [
            td_string!(l, library.shared.name),
            td_string!(l, library.commands.body),
            td_string!(l, library.commands.parameters),
            td_string!(l, library.commands.timeout),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(c: &Command) -> AnyView {
        let timeout = fill(td_string!(current(), library.commands.seconds), &[("n", &c.timeout_secs)]);
        view! {
            <td><strong>{c.name.clone()}</strong><br /><span class="muted">{c.description.clone()}</span></td>
            <td><pre class="snippet">{c.body.clone()}</pre></td>
            <td>{c.params.join(", ")}</td>
            <td>{timeout}</td>
        }
        .into_any()
    }

    fn id(c: &Command) -> i64 {
        c.id
    }

    fn name(c: &Command) -> String {
        c.name.clone()
    }
}

#[component]
pub fn Commands() -> impl IntoView {
    let i18n = use_i18n();
    crud_page::<CommandEditor>(
        t_string!(i18n, library.commands.title).to_string(),
        t_string!(i18n, library.commands.intro).to_string(),
    )
}

#[derive(Clone, Copy)]
struct AliasEditor {
    key: RwSignal<String>,
    label: RwSignal<String>,
    description: RwSignal<String>,
    kind: RwSignal<String>,
    default: RwSignal<String>,
    required: RwSignal<bool>,
    pattern: RwSignal<String>,
    min: RwSignal<String>,
    max: RwSignal<String>,
    choices: RwSignal<String>,
    secret: RwSignal<bool>,
}

impl Editor for AliasEditor {
    type Item = Alias;
    const PATH: &'static str = "/aliases";
    fn noun() -> String {
        td_string!(current(), library.aliases.noun).to_string()
    }

    fn new() -> Self {
        AliasEditor {
            key: RwSignal::default(),
            label: RwSignal::default(),
            description: RwSignal::default(),
            kind: RwSignal::new("string".into()),
            default: RwSignal::default(),
            required: RwSignal::default(),
            pattern: RwSignal::default(),
            min: RwSignal::default(),
            max: RwSignal::default(),
            choices: RwSignal::default(),
            secret: RwSignal::default(),
        }
    }

    fn fill(self, a: Option<&Alias>) {
        let text = |f: fn(&Alias) -> String| a.map(f).unwrap_or_default();
        self.key.set(text(|a| a.key.clone()));
        self.label.set(text(|a| a.label.clone()));
        self.description.set(text(|a| a.description.clone()));
        self.kind.set(a.map_or("string", |a| a.param_type.as_str()).to_string());
        self.default.set(text(|a| a.default.clone().unwrap_or_default()));
        self.required.set(a.is_some_and(|a| a.required));
        self.pattern.set(text(|a| a.pattern.clone().unwrap_or_default()));
        self.min.set(text(|a| a.min.map(|m| m.to_string()).unwrap_or_default()));
        self.max.set(text(|a| a.max.map(|m| m.to_string()).unwrap_or_default()));
        self.choices.set(text(|a| a.choices.join(", ")));
        self.secret.set(a.is_some_and(|a| a.secret));
    }

    fn body(self, _: bool) -> Result<serde_json::Value, FieldError> {
        let key = self.key.get_untracked();
        validate::param_key("key", &key)?;
        let pattern = opt_text(self.pattern.get_untracked());
        if let Some(p) = &pattern {
            validate::pattern("pattern", p)?;
        }
        let choices = split_list(&self.choices.get_untracked());
        to_body(&AliasInput {
            key,
            label: self.label.get_untracked(),
            description: opt_text(self.description.get_untracked()),
            param_type: ParamType::parse(&self.kind.get_untracked()),
            default: opt_text(self.default.get_untracked()),
            required: Some(self.required.get_untracked()),
            pattern,
            min: opt_int("min", &self.min.get_untracked())?,
            max: opt_int("max", &self.max.get_untracked())?,
            choices: (!choices.is_empty()).then_some(choices),
            secret: Some(self.secret.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let i18n = use_i18n();
        let l = current();
        let kinds: Vec<(String, String)> = plain_options(&["string", "int", "bool", "enum", "datetime"])
            .into_iter()
            .map(|(value, word)| (value, param_type_text(l, &word)))
            .collect();
        view! {
            <Field label=t_string!(i18n, library.aliases.key) value=self.key errors=errors field="key"
                placeholder="VERSION" />
            <Field label=t_string!(i18n, library.aliases.label) value=self.label errors=errors field="label"
                placeholder=t_string!(i18n, library.aliases.label_placeholder) />
            <Field label=t_string!(i18n, library.shared.description) value=self.description errors=errors
                field="description" />
            <Select label=t_string!(i18n, library.aliases.param_type) value=self.kind options=kinds errors=errors
                field="type" />
            <Field label=t_string!(i18n, library.aliases.default_value) value=self.default errors=errors
                field="default" />
            <Check label=t_string!(i18n, library.aliases.required) value=self.required />
            <Field label=t_string!(i18n, library.aliases.pattern) value=self.pattern errors=errors field="pattern"
                hint=t_string!(i18n, library.aliases.pattern_hint) />
            <div class="row">
                <Field label=t_string!(i18n, library.aliases.min) value=self.min errors=errors field="min"
                    kind="number" />
                <Field label=t_string!(i18n, library.aliases.max) value=self.max errors=errors field="max"
                    kind="number" />
            </div>
            <Field label=t_string!(i18n, library.aliases.choices) value=self.choices errors=errors
                field="choices" />
            <Check label=t_string!(i18n, library.aliases.secret) value=self.secret />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = current();
        [
            td_string!(l, library.aliases.key),
            td_string!(l, library.aliases.label),
            td_string!(l, library.aliases.param_type),
            td_string!(l, library.aliases.default_value),
            td_string!(l, library.aliases.checks),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(a: &Alias) -> AnyView {
        let l = current();
        let mut checks = vec![];
        if a.required {
            checks.push(td_string!(l, library.aliases.check_required).to_string());
        }
        if let Some(p) = &a.pattern {
            checks.push(fill(td_string!(l, library.aliases.check_matches), &[("pattern", p)]));
        }
        if a.secret {
            checks.push(td_string!(l, library.aliases.check_secret).to_string());
        }
        view! {
            <td><code>{a.key.clone()}</code></td>
            <td>{a.label.clone()}</td>
            <td>{param_type_text(l, a.param_type.as_str())}</td>
            <td>{a.default.clone().unwrap_or_default()}</td>
            <td>{checks.join(td_string!(l, library.shared.list_separator))}</td>
        }
        .into_any()
    }

    fn id(a: &Alias) -> i64 {
        a.id
    }

    fn name(a: &Alias) -> String {
        a.key.clone()
    }
}

#[component]
pub fn Aliases() -> impl IntoView {
    let i18n = use_i18n();
    crud_page::<AliasEditor>(
        t_string!(i18n, library.aliases.title).to_string(),
        t_string!(i18n, library.aliases.intro).to_string(),
    )
}

/// The fingerprint in what was pasted: the whole `ssh-keygen -lf` line ("256
/// SHA256:… root@web1 (ED25519)") gives its `SHA256:…` word; anything else is sent as it is
/// (the server says what is wrong with it).
fn fingerprint_of(text: &str) -> String {
    text.split_whitespace().find(|w| w.starts_with("SHA256:")).unwrap_or(text.trim()).to_string()
}

#[derive(Clone, Copy)]
struct HostEditor {
    name: RwSignal<String>,
    address: RwSignal<String>,
    port: RwSignal<String>,
    user: RwSignal<String>,
    labels: RwSignal<String>,
    credential: RwSignal<String>,
    fingerprint: RwSignal<String>,
    tofu: RwSignal<bool>,
}

impl Editor for HostEditor {
    type Item = Host;
    const PATH: &'static str = "/hosts";
    fn noun() -> String {
        td_string!(current(), library.hosts.noun).to_string()
    }

    fn new() -> Self {
        HostEditor {
            name: RwSignal::default(),
            address: RwSignal::default(),
            port: RwSignal::new("22".into()),
            user: RwSignal::new("root".into()),
            labels: RwSignal::default(),
            credential: RwSignal::default(),
            fingerprint: RwSignal::default(),
            tofu: RwSignal::default(),
        }
    }

    fn fill(self, h: Option<&Host>) {
        self.name.set(h.map(|h| h.name.clone()).unwrap_or_default());
        self.address.set(h.map(|h| h.address.clone()).unwrap_or_default());
        self.port.set(h.map_or(22, |h| h.port).to_string());
        self.user.set(h.map_or("root".into(), |h| h.user.clone()));
        self.labels.set(h.map(|h| h.labels.join(", ")).unwrap_or_default());
        self.credential.set(h.and_then(|h| h.credential_id).map(|c| c.to_string()).unwrap_or_default());
        self.fingerprint.set(h.and_then(|h| h.host_key_fingerprint.clone()).unwrap_or_default());
        self.tofu.set(h.is_some_and(|h| h.trust_on_first_use));
    }

    fn body(self, _: bool) -> Result<serde_json::Value, FieldError> {
        let name = self.name.get_untracked();
        validate::name("name", &name)?;
        if self.address.get_untracked().trim().is_empty() {
            return Err(FieldError::new("address", td_string!(current(), library.hosts.address_required)));
        }
        let labels = split_list(&self.labels.get_untracked());
        to_body(&HostInput {
            name,
            address: self.address.get_untracked().trim().to_string(),
            port: opt_int("port", &self.port.get_untracked())?,
            user: opt_text(self.user.get_untracked()),
            labels: Some(labels),
            credential_id: opt_int("credential_id", &self.credential.get_untracked())?,
            host_key_fingerprint: opt_text(fingerprint_of(&self.fingerprint.get_untracked())),
            trust_on_first_use: Some(self.tofu.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let i18n = use_i18n();
        let credentials = LocalResource::new(|| api::get::<Vec<Credential>>("/credentials"));
        let options = Signal::derive(move || {
            let mut o = vec![(String::new(), t_string!(i18n, library.hosts.no_credential).to_string())];
            if let Some(Ok(list)) = credentials.get() {
                o.extend(list.into_iter().map(|c| (c.id.to_string(), c.name)));
            }
            o
        });
        // The command stays out of the catalogue text.
        let fingerprint_hint =
            fill(t_string!(i18n, library.hosts.fingerprint_hint), &[("command", &"`ssh-keygen -lf`")]);
        view! {
            <Field label=t_string!(i18n, library.shared.name) value=self.name errors=errors field="name" />
            <Field label=t_string!(i18n, library.hosts.address) value=self.address errors=errors field="address"
                placeholder="10.0.0.5" />
            <div class="row">
                <Field label=t_string!(i18n, library.hosts.port) value=self.port errors=errors field="port"
                    kind="number" />
                <Field label=t_string!(i18n, library.hosts.user) value=self.user errors=errors field="user" />
            </div>
            <Field label=t_string!(i18n, library.hosts.labels_input) value=self.labels errors=errors
                field="labels" />
            <Select label=t_string!(i18n, library.hosts.credential) value=self.credential options=options
                errors=errors field="credential_id" />
            <Field label=t_string!(i18n, library.hosts.fingerprint) value=self.fingerprint errors=errors
                field="host_key_fingerprint" placeholder="SHA256:…" hint=fingerprint_hint />
            <Check label=t_string!(i18n, library.hosts.trust_on_first_use) value=self.tofu />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = current();
        [
            td_string!(l, library.shared.name),
            td_string!(l, library.hosts.address),
            td_string!(l, library.hosts.labels),
            td_string!(l, library.hosts.host_key),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(h: &Host) -> AnyView {
        let key = match (&h.host_key_fingerprint, h.trust_on_first_use) {
            (Some(f), _) => f.clone(),
            (None, true) => td_string!(current(), library.hosts.key_pinned_at_first).to_string(),
            (None, false) => td_string!(current(), library.hosts.key_none).to_string(),
        };
        view! {
            <td><strong>{h.name.clone()}</strong></td>
            <td><code>{format!("{}@{}:{}", h.user, h.address, h.port)}</code></td>
            <td>{h.labels.join(", ")}</td>
            <td class="mono small">{key}</td>
        }
        .into_any()
    }

    fn id(h: &Host) -> i64 {
        h.id
    }

    fn name(h: &Host) -> String {
        h.name.clone()
    }

    fn search_text(h: &Host) -> String {
        format!("{} {} {}", h.name, h.address, h.labels.join(" "))
    }
}

#[component]
pub fn Hosts() -> impl IntoView {
    let i18n = use_i18n();
    crud_page::<HostEditor>(
        t_string!(i18n, library.hosts.title).to_string(),
        t_string!(i18n, library.hosts.intro).to_string(),
    )
}

#[derive(Clone, Copy)]
struct CredentialEditor {
    name: RwSignal<String>,
    kind: RwSignal<String>,
    secret: RwSignal<String>,
    passphrase: RwSignal<String>,
    username: RwSignal<String>,
    description: RwSignal<String>,
}

impl Editor for CredentialEditor {
    type Item = Credential;
    const PATH: &'static str = "/credentials";
    fn noun() -> String {
        td_string!(current(), library.credentials.noun).to_string()
    }

    fn new() -> Self {
        CredentialEditor {
            name: RwSignal::default(),
            kind: RwSignal::new("private_key".into()),
            secret: RwSignal::default(),
            passphrase: RwSignal::default(),
            username: RwSignal::default(),
            description: RwSignal::default(),
        }
    }

    fn fill(self, c: Option<&Credential>) {
        self.name.set(c.map(|c| c.name.clone()).unwrap_or_default());
        let kind = match c.map(|c| c.kind) {
            Some(CredentialKind::Password) => "password",
            _ => "private_key",
        };
        self.kind.set(kind.into());
        self.secret.set(String::new());
        self.passphrase.set(String::new());
        self.username.set(c.and_then(|c| c.username.clone()).unwrap_or_default());
        self.description.set(c.map(|c| c.description.clone()).unwrap_or_default());
    }

    fn body(self, editing: bool) -> Result<serde_json::Value, FieldError> {
        let name = self.name.get_untracked();
        validate::name("name", &name)?;
        // Changing a credential keeps its secret unless a new one is typed.
        if self.secret.get_untracked().is_empty() && !editing {
            return Err(FieldError::new("secret", td_string!(current(), library.credentials.secret_required)));
        }
        let kind =
            if self.kind.get_untracked() == "password" { CredentialKind::Password } else { CredentialKind::PrivateKey };
        to_body(&CredentialInput {
            name,
            kind,
            secret: Some(self.secret.get_untracked()).filter(|s| !s.is_empty()),
            passphrase: opt_text(self.passphrase.get_untracked()),
            username: opt_text(self.username.get_untracked()),
            description: opt_text(self.description.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let i18n = use_i18n();
        let kinds = vec![
            ("private_key".to_string(), t_string!(i18n, library.credentials.kind_private_key).to_string()),
            ("password".into(), t_string!(i18n, library.credentials.kind_password_option).into()),
        ];
        view! {
            <Field label=t_string!(i18n, library.shared.name) value=self.name errors=errors field="name" />
            <Select label=t_string!(i18n, library.credentials.kind) value=self.kind options=kinds errors=errors
                field="kind" />
            <Field label=t_string!(i18n, library.credentials.secret) value=self.secret errors=errors field="secret"
                multiline=true hint=t_string!(i18n, library.credentials.secret_hint) />
            <Field label=t_string!(i18n, library.credentials.passphrase) value=self.passphrase errors=errors
                field="passphrase" kind="password" />
            <Field label=t_string!(i18n, library.credentials.username) value=self.username errors=errors
                field="username" />
            <Field label=t_string!(i18n, library.shared.description) value=self.description errors=errors
                field="description" />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = current();
        [
            td_string!(l, library.shared.name),
            td_string!(l, library.credentials.kind),
            td_string!(l, library.credentials.username),
            td_string!(l, library.shared.description),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(c: &Credential) -> AnyView {
        let l = current();
        let kind = match c.kind {
            CredentialKind::PrivateKey => td_string!(l, library.credentials.kind_private_key),
            CredentialKind::Password => td_string!(l, library.credentials.kind_password),
        };
        view! {
            <td><strong>{c.name.clone()}</strong></td>
            <td>{kind}</td>
            <td>{c.username.clone().unwrap_or_default()}</td>
            <td>{c.description.clone()}</td>
        }
        .into_any()
    }

    fn id(c: &Credential) -> i64 {
        c.id
    }

    fn name(c: &Credential) -> String {
        c.name.clone()
    }
}

#[component]
pub fn Credentials() -> impl IntoView {
    let i18n = use_i18n();
    crud_page::<CredentialEditor>(
        t_string!(i18n, library.credentials.title).to_string(),
        t_string!(i18n, library.credentials.intro).to_string(),
    )
}
