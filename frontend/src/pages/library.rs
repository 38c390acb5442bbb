//! The library: commands, parameter aliases, hosts and credentials.

use api_types::{
    validate, Alias, AliasInput, Command, CommandInput, Credential, CredentialInput, CredentialKind, FieldError, Host,
    HostInput, ParamType,
};
use leptos::prelude::*;

use crate::api;
use crate::components::{plain_options, split_list, Check, Errors, Field, Select};
use crate::crud::{crud_page, opt_int, opt_text, to_body, Editor};

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
        "command".to_string()
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
            return Err(FieldError::new("body", "write the shell text to run"));
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
        view! {
            <Field label="Name" value=self.name errors=errors field="name" />
            <Field label="Body" value=self.body errors=errors field="body" multiline=true
                hint="Shell text; {{ KEY }} inserts a parameter, shell-quoted." />
            <Field label="Interpreter" value=self.interpreter errors=errors field="interpreter" />
            <Field label="Timeout (s)" value=self.timeout errors=errors field="timeout_secs" kind="number" />
            <Field label="Description" value=self.description errors=errors field="description" />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        ["Name", "Body", "Parameters", "Timeout"].map(String::from).to_vec()
    }

    fn cells(c: &Command) -> AnyView {
        view! {
            <td><strong>{c.name.clone()}</strong><br /><span class="muted">{c.description.clone()}</span></td>
            <td><pre class="snippet">{c.body.clone()}</pre></td>
            <td>{c.params.join(", ")}</td>
            <td>{format!("{} s", c.timeout_secs)}</td>
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
    crud_page::<CommandEditor>("Commands".to_string(), "Shell commands that template steps run on each host.".to_string())
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
        "alias".to_string()
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
        let kinds = plain_options(&["string", "int", "bool", "enum", "datetime"]);
        view! {
            <Field label="Key" value=self.key errors=errors field="key" placeholder="VERSION" />
            <Field label="Label" value=self.label errors=errors field="label" placeholder="Version" />
            <Field label="Description" value=self.description errors=errors field="description" />
            <Select label="Type" value=self.kind options=kinds errors=errors field="type" />
            <Field label="Default" value=self.default errors=errors field="default" />
            <Check label="Required" value=self.required />
            <Field label="Pattern" value=self.pattern errors=errors field="pattern"
                hint="A regular expression the whole value must match." />
            <div class="row">
                <Field label="Min" value=self.min errors=errors field="min" kind="number" />
                <Field label="Max" value=self.max errors=errors field="max" kind="number" />
            </div>
            <Field label="Choices (comma-separated)" value=self.choices errors=errors field="choices" />
            <Check label="Secret" value=self.secret />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        ["Key", "Label", "Type", "Default", "Checks"].map(String::from).to_vec()
    }

    fn cells(a: &Alias) -> AnyView {
        let mut checks = vec![];
        if a.required {
            checks.push("required".to_string());
        }
        if let Some(p) = &a.pattern {
            checks.push(format!("matches {p}"));
        }
        if a.secret {
            checks.push("secret".into());
        }
        view! {
            <td><code>{a.key.clone()}</code></td>
            <td>{a.label.clone()}</td>
            <td>{a.param_type.as_str()}</td>
            <td>{a.default.clone().unwrap_or_default()}</td>
            <td>{checks.join(", ")}</td>
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
    crud_page::<AliasEditor>("Parameter aliases".to_string(), "How each parameter is labelled, defaulted and checked on the submit form.".to_string())
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
        "host".to_string()
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
            return Err(FieldError::new("address", "give the host's address or DNS name"));
        }
        let labels = split_list(&self.labels.get_untracked());
        to_body(&HostInput {
            name,
            address: self.address.get_untracked().trim().to_string(),
            port: opt_int("port", &self.port.get_untracked())?,
            user: opt_text(self.user.get_untracked()),
            labels: Some(labels),
            credential_id: opt_int("credential_id", &self.credential.get_untracked())?,
            host_key_fingerprint: opt_text(self.fingerprint.get_untracked()),
            trust_on_first_use: Some(self.tofu.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let credentials = LocalResource::new(|| api::get::<Vec<Credential>>("/credentials"));
        let options = Signal::derive(move || {
            let mut o = vec![(String::new(), "(none)".to_string())];
            if let Some(Ok(list)) = credentials.get() {
                o.extend(list.into_iter().map(|c| (c.id.to_string(), c.name)));
            }
            o
        });
        view! {
            <Field label="Name" value=self.name errors=errors field="name" />
            <Field label="Address" value=self.address errors=errors field="address" placeholder="10.0.0.5" />
            <div class="row">
                <Field label="Port" value=self.port errors=errors field="port" kind="number" />
                <Field label="User" value=self.user errors=errors field="user" />
            </div>
            <Field label="Labels (comma-separated)" value=self.labels errors=errors field="labels" />
            <Select label="Credential" value=self.credential options=options errors=errors field="credential_id" />
            <Field label="Host key fingerprint" value=self.fingerprint errors=errors field="host_key_fingerprint"
                placeholder="SHA256:…" hint="As `ssh-keygen -lf` prints it. Connections to other keys are refused." />
            <Check label="Trust on first use" value=self.tofu />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        ["Name", "Address", "Labels", "Host key"].map(String::from).to_vec()
    }

    fn cells(h: &Host) -> AnyView {
        let key = match (&h.host_key_fingerprint, h.trust_on_first_use) {
            (Some(f), _) => f.clone(),
            (None, true) => "pinned at first connection".into(),
            (None, false) => "none: connections are refused".into(),
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
}

#[component]
pub fn Hosts() -> impl IntoView {
    crud_page::<HostEditor>("Hosts".to_string(), "Machines tasks run on, each with its login and pinned host key.".to_string())
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
        "credential".to_string()
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

    fn body(self, _: bool) -> Result<serde_json::Value, FieldError> {
        let name = self.name.get_untracked();
        validate::name("name", &name)?;
        if self.secret.get_untracked().is_empty() {
            return Err(FieldError::new("secret", "enter the private key or password (it is never shown again)"));
        }
        let kind =
            if self.kind.get_untracked() == "password" { CredentialKind::Password } else { CredentialKind::PrivateKey };
        to_body(&CredentialInput {
            name,
            kind,
            secret: self.secret.get_untracked(),
            passphrase: opt_text(self.passphrase.get_untracked()),
            username: opt_text(self.username.get_untracked()),
            description: opt_text(self.description.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let kinds =
            vec![("private_key".to_string(), "SSH private key".to_string()), ("password".into(), "Password".into())];
        view! {
            <Field label="Name" value=self.name errors=errors field="name" />
            <Select label="Kind" value=self.kind options=kinds errors=errors field="kind" />
            <Field label="Secret" value=self.secret errors=errors field="secret" multiline=true
                hint="Write-only: stored encrypted, never shown again. Enter it again when editing." />
            <Field label="Passphrase" value=self.passphrase errors=errors field="passphrase" kind="password" />
            <Field label="Username" value=self.username errors=errors field="username" />
            <Field label="Description" value=self.description errors=errors field="description" />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        ["Name", "Kind", "Username", "Description"].map(String::from).to_vec()
    }

    fn cells(c: &Credential) -> AnyView {
        let kind = match c.kind {
            CredentialKind::PrivateKey => "SSH private key",
            CredentialKind::Password => "password",
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
    crud_page::<CredentialEditor>("Credentials".to_string(), "SSH keys and passwords, encrypted at rest and never shown again.".to_string())
}
