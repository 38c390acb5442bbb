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
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    /// Shell text with minijinja placeholders: not blank, at most 65536 characters. It must
    /// parse, and each placeholder must land where its value can be escaped.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 65536,
            pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
        ))
    )]
    pub body: String,
    /// Defaults to `bash`. A program name or path: 1–64 letters, digits and `_./-`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z0-9_./-]{1,64}$")))]
    pub interpreter: Option<String>,
    /// Defaults to 600 seconds; 1–604800.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "604800"))))]
    pub timeout_secs: Option<i64>,
    /// At most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
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
    /// An environment variable name: letters, digits and `_`, not starting with a digit,
    /// at most 64 characters; names that steer a shell, the loader or an interpreter
    /// (`PATH`, `LD_PRELOAD`, `LC_ALL`, …) are refused.
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")))]
    pub key: String,
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub label: String,
    /// At most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
    pub description: Option<String>,
    /// Defaults to `string`.
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", oai(rename = "type"))]
    pub param_type: Option<ParamType>,
    /// Checked as a value of this parameter (type, bounds, choices, pattern); at most
    /// 64 KiB.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 65536)))]
    pub default: Option<String>,
    #[serde(default)]
    pub required: Option<bool>,
    /// A regular expression (Rust `regex` syntax) the whole value must match; at most
    /// 1000 bytes. Empty means none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 1000)))]
    pub pattern: Option<String>,
    /// For `int`: smallest value; for `string`: shortest length.
    #[serde(default)]
    pub min: Option<i64>,
    /// For `int`: largest value; for `string`: longest length.
    #[serde(default)]
    pub max: Option<i64>,
    /// For `enum`, and only for it: the allowed values, at least one, each once.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(unique_items)))]
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
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    /// Host group: `"1"` to `"999"` (no leading zero), or `"local"` for the Taskgate server.
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^(?:local|[1-9][0-9]{0,2})$")))]
    pub group: String,
    /// A library command; give exactly one of `command_id` and `script`.
    #[serde(default)]
    pub command_id: Option<i64>,
    /// Inline shell text, like a command's body: not blank, at most 65536 characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 65536,
            pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
        ))
    )]
    pub script: Option<String>,
    /// Overrides the command's default timeout; 1–604800 seconds.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "604800"))))]
    pub timeout_secs: Option<i64>,
    /// Tries after a failure, 0–10 (default 0).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "0"), maximum(value = "10"))))]
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
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    /// At most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
    pub description: Option<String>,
    /// A user group whose members may approve its tasks (besides approvers and admins):
    /// 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub approver_group: Option<String>,
    /// Seconds before an unanswered approval request expires, 1–2592000 (overrides
    /// the policy).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "2592000"))))]
    pub approval_timeout_secs: Option<i64>,
    #[serde(default)]
    pub require_approval: Option<bool>,
    /// Parameters the steps read from the environment: names as an alias `key` takes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")))]
    pub extra_params: Option<Vec<String>>,
    #[serde(default)]
    pub raw_params: Option<bool>,
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Hosts in a canary's first batch, 1–10000 (default 1).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "10000"))))]
    pub canary_size: Option<i64>,
    /// 1–200 steps.
    #[cfg_attr(feature = "openapi", oai(validator(min_items = 1, max_items = 200)))]
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
    /// A host name or address, optionally `user@`-prefixed or with `:port`: letters,
    /// digits and `_.:-` (or a bracketed IPv6 address).
    #[cfg_attr(
        feature = "openapi",
        oai(validator(pattern = r"^(?:[A-Za-z0-9_.-]{1,64}@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})$"))
    )]
    pub name: String,
    /// A DNS name or IP address: letters, digits and `_.:-`, or a bracketed IPv6 address;
    /// the login user goes in `user`.
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]{1,253})$")))]
    pub address: String,
    /// Defaults to 22; 1–65535.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "65535"))))]
    pub port: Option<i64>,
    /// Defaults to `root`. A username: 1–64 letters, digits, `.`, `_`, `@` or `-`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")))]
    pub user: Option<String>,
    /// Labels, each 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub credential_id: Option<i64>,
    /// Pinned host key: `SHA256:` and 43 base64 characters, as `ssh-keygen -lf` prints.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^SHA256:[A-Za-z0-9+/]{43}$")))]
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
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    pub kind: CredentialKind,
    /// The OpenSSH private key text (starting with `-----BEGIN `) or the password.
    /// Write-only; 1–16384 characters. Required to create; when changing a credential,
    /// leave it out to keep the stored secret (and passphrase) — the kind cannot change then.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 1, max_length = 16384)))]
    pub secret: Option<String>,
    /// The private key's passphrase; refused for a password. Given without a new
    /// `secret`, it replaces the stored passphrase of the kept key.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// A username: 1–64 letters, digits, `.`, `_`, `@` or `-`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")))]
    pub username: Option<String>,
    /// At most 4000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 4000)))]
    pub description: Option<String>,
}
