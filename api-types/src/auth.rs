//! Users, roles, sessions and long-lived API tokens.

use serde::{Deserialize, Serialize};

/// Roles are ordered: every role may do what the roles below it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", oai(rename_all = "lowercase"))]
pub enum Role {
    Viewer,
    Operator,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What an API token may be used for. A token never exceeds its owner's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
pub enum Scope {
    #[serde(rename = "read")]
    #[cfg_attr(feature = "openapi", oai(rename = "read"))]
    Read,
    #[serde(rename = "task:submit")]
    #[cfg_attr(feature = "openapi", oai(rename = "task:submit"))]
    TaskSubmit,
    #[serde(rename = "task:approve")]
    #[cfg_attr(feature = "openapi", oai(rename = "task:approve"))]
    TaskApprove,
    #[serde(rename = "admin")]
    #[cfg_attr(feature = "openapi", oai(rename = "admin"))]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::TaskSubmit, Scope::TaskApprove, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::TaskSubmit => "task:submit",
            Scope::TaskApprove => "task:approve",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The least role that may hold this scope.
    pub fn min_role(self) -> Role {
        match self {
            Scope::Read => Role::Viewer,
            Scope::TaskSubmit => Role::Operator,
            Scope::TaskApprove => Role::Approver,
            Scope::Admin => Role::Admin,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Every username has 1–64 letters, digits, `.`, `_`, `@` or `-`, starting with a
    /// letter or digit; another is refused like a wrong password.
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")))]
    pub username: String,
    /// Every password has 8 characters or more and at most 1024 bytes; another is
    /// refused like a wrong one.
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 8, max_length = 1024)))]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// RFC 3339 time after which the token is refused.
    pub expires_at: String,
    pub user: User,
}

/// Asks for a ticket: what a browser puts in a URL where it cannot send a header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// The one path the ticket opens: `/api/v1/tasks/changes`, `/api/v1/tasks/ID/events`
    /// or `/api/v1/tasks/ID/logs/text`.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(max_length = 200, pattern = r"^/api/v1/tasks/(?:changes|[0-9]{1,18}/(?:events|logs/text))$"))
    )]
    pub path: String,
}

/// A ticket: pass it as `?ticket=` on its path, within a minute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Ticket {
    pub ticket: String,
    /// RFC 3339 time after which the ticket opens nothing new (a stream opened with it
    /// lasts as long as the session or token it was taken with).
    pub expires_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    /// Named groups, used by templates that name an approver group.
    pub groups: Vec<String>,
    pub disabled: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// 1–64 letters, digits, `.`, `_`, `@` or `-`, starting with a letter or digit.
    #[cfg_attr(feature = "openapi", oai(validator(pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")))]
    pub username: String,
    /// At least 8 characters and at most 1024 bytes (UTF-8).
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 8, max_length = 1024)))]
    pub password: String,
    pub role: Role,
    /// Defaults to the username. 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub display_name: Option<String>,
    /// Empty, or an address with an `@` and no whitespace, at most 254 bytes.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 254,
            pattern = r"^(?:[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*@[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$"
        ))
    )]
    pub email: Option<String>,
    /// Group names, each 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(default))]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub groups: Vec<String>,
}

/// Every field is optional; absent fields are left unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// At least 8 characters and at most 1024 bytes (UTF-8). Only from a login session.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(min_length = 8, max_length = 1024)))]
    pub password: Option<String>,
    /// Your current password: required to change your own `password` (a stolen session
    /// alone cannot take the account). Not needed when an admin sets someone else's.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(max_length = 1024)))]
    pub current_password: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    /// 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub display_name: Option<String>,
    /// Empty, or an address with an `@` and no whitespace, at most 254 bytes.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 254,
            pattern = r"^(?:[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*@[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$"
        ))
    )]
    pub email: Option<String>,
    /// Group names, each 1–100 characters, not blank, no control characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(deny_unknown_fields))]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// 1–100 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        oai(validator(
            max_length = 100,
            pattern = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
        ))
    )]
    pub name: String,
    /// At least one scope; defaults to every scope the owner's role allows.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(min_items = 1)))]
    pub scopes: Option<Vec<Scope>>,
    /// Lifetime in days, 1–3650; absent means the token never expires.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", oai(validator(minimum(value = "1"), maximum(value = "3650"))))]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// Answer to token creation: the only time the secret token is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct TokenCreated {
    pub token: String,
    pub info: TokenInfo,
}
