//! The library: commands, parameter aliases, templates, hosts and credentials.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Command {
    pub id: i64,
    pub name: String,
    /// Shell text with minijinja placeholders such as `{{ VERSION }}`.
    pub body: String,
    pub interpreter: String,
    pub timeout_secs: i64,
    pub description: String,
    /// Parameters the body refers to (minijinja variables).
    pub params: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct CommandInput {
    pub name: String,
    pub body: String,
    /// Defaults to `bash`.
    #[serde(default)]
    pub interpreter: Option<String>,
    /// Defaults to 600 seconds.
    #[serde(default)]
    pub timeout_secs: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum ParamType {
    String,
    Int,
    Bool,
    Enum,
    Datetime,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Enum => "enum",
            ParamType::Datetime => "datetime",
        }
    }

    pub fn parse(s: &str) -> Option<ParamType> {
        [Self::String, Self::Int, Self::Bool, Self::Enum, Self::Datetime].into_iter().find(|t| t.as_str() == s)
    }
}

/// A parameter alias: how one argument key is shown, defaulted and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Alias {
    pub id: i64,
    pub key: String,
    pub label: String,
    pub description: String,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", oai(rename = "type"))]
    pub param_type: ParamType,
    pub default: Option<String>,
    pub required: bool,
    pub pattern: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub choices: Vec<String>,
    pub secret: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct AliasInput {
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to `string`.
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", oai(rename = "type"))]
    pub param_type: Option<ParamType>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: Option<bool>,
    /// A regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// For `int`: smallest value; for `string`: shortest length.
    #[serde(default)]
    pub min: Option<i64>,
    /// For `int`: largest value; for `string`: longest length.
    #[serde(default)]
    pub max: Option<i64>,
    /// For `enum`: the allowed values.
    #[serde(default)]
    pub choices: Option<Vec<String>>,
    #[serde(default)]
    pub secret: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum OnFailure {
    Stop,
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum Trigger {
    /// Runs when reached.
    Auto,
    /// Waits for the task's `exec_time`.
    Timed,
    /// Waits until a person releases it.
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum Strategy {
    /// Each host walks the steps at its own pace.
    Free,
    /// Every host finishes a step before any host starts the next.
    Lockstep,
    /// A first batch of `canary_size` hosts, then the rest only if it succeeded.
    Canary,
}

/// One step of a template as stored: either a library command or an inline script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Step {
    pub name: String,
    /// Host group: `"1"`, `"2"`, … or `"local"` for the Taskgate server itself.
    pub group: String,
    pub command_id: Option<i64>,
    pub script: Option<String>,
    pub timeout_secs: Option<i64>,
    pub retries: i64,
    pub on_failure: OnFailure,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    pub name: String,
    pub group: String,
    #[serde(default)]
    pub command_id: Option<i64>,
    #[serde(default)]
    pub script: Option<String>,
    /// Overrides the command's default timeout.
    #[serde(default)]
    pub timeout_secs: Option<i64>,
    #[serde(default)]
    pub retries: Option<i64>,
    #[serde(default)]
    pub on_failure: Option<OnFailure>,
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Template {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Members of this user group may approve its tasks (besides approvers and admins).
    pub approver_group: Option<String>,
    /// Unanswered approval requests expire after this many seconds (overrides the server default).
    pub approval_timeout_secs: Option<i64>,
    /// When true, its tasks must be submitted with `schedule: new` (a second person approves).
    pub require_approval: bool,
    /// Extra parameters the steps read from the environment rather than from placeholders.
    pub extra_params: Vec<String>,
    /// When true, the task's arguments are inserted as given instead of escaped for the
    /// shell; built-ins such as TASK_NAME are escaped all the same.
    pub raw_params: bool,
    pub strategy: Strategy,
    pub canary_size: i64,
    pub steps: Vec<Step>,
    /// Host groups in the order they run (derived from the steps).
    pub groups: Vec<String>,
    /// Every parameter a task of this template takes.
    pub params: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub approver_group: Option<String>,
    #[serde(default)]
    pub approval_timeout_secs: Option<i64>,
    #[serde(default)]
    pub require_approval: Option<bool>,
    #[serde(default)]
    pub extra_params: Option<Vec<String>>,
    #[serde(default)]
    pub raw_params: Option<bool>,
    #[serde(default)]
    pub strategy: Option<Strategy>,
    #[serde(default)]
    pub canary_size: Option<i64>,
    pub steps: Vec<StepInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Host {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub port: i64,
    pub user: String,
    pub labels: Vec<String>,
    pub credential_id: Option<i64>,
    /// Pinned host key, `SHA256:…` as `ssh-keygen -lf` prints it.
    pub host_key_fingerprint: Option<String>,
    /// When true and no key is pinned, the key recorded on first use for the host's
    /// address and port is required; the first one offered there is recorded and pinned.
    pub trust_on_first_use: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct HostInput {
    pub name: String,
    pub address: String,
    /// Defaults to 22.
    #[serde(default)]
    pub port: Option<i64>,
    /// Defaults to `root`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub credential_id: Option<i64>,
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    #[serde(default)]
    pub trust_on_first_use: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum CredentialKind {
    PrivateKey,
    Password,
}

/// A credential as the API shows it: never the secret itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Credential {
    pub id: i64,
    pub name: String,
    pub kind: CredentialKind,
    pub username: Option<String>,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    pub name: String,
    pub kind: CredentialKind,
    /// The OpenSSH private key text or the password. Write-only.
    pub secret: String,
    #[serde(default)]
    pub passphrase: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}
