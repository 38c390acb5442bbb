//! The authenticated caller and the one permission check every route makes.

use api_types::{Message, Role, Scope};

use crate::error::{ServiceError, ServiceResult};

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub groups: Vec<String>,
    /// Scopes of the API token used, or `None` for a login session (all the role allows).
    pub scopes: Option<Vec<Scope>>,
    pub token_id: Option<String>,
    /// For a login session, the user's session epoch it was issued in (see `tokens`).
    pub session_epoch: Option<i64>,
    /// When the session or API token expires (Unix ms), if it does.
    pub expires_at: Option<i64>,
    pub remote_addr: String,
}

impl Principal {
    /// True when both the role and (for API tokens) the token's scopes allow `scope`.
    pub fn can(&self, scope: Scope) -> bool {
        self.role >= scope.min_role() && self.scopes.as_ref().is_none_or(|s| s.contains(&scope))
    }

    /// The check at the top of every route: viewer reads, operator submits, approver
    /// approves, admin manages.
    pub fn require(&self, scope: Scope) -> ServiceResult<()> {
        if self.role < scope.min_role() {
            return Err(ServiceError::Forbidden(
                Message::new("{scope} needs the {needed} role or higher; {user} is {role}")
                    .arg("scope", scope.as_str())
                    .arg("needed", scope.min_role().as_str())
                    .arg("user", &self.username)
                    .arg("role", self.role.as_str()),
            ));
        }
        if !self.can(scope) {
            return Err(ServiceError::Forbidden(
                Message::new("this API token lacks the {scope} scope").arg("scope", scope.as_str()),
            ));
        }
        Ok(())
    }

    pub fn is_admin(&self) -> bool {
        self.can(Scope::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, scopes: Option<Vec<Scope>>) -> Principal {
        Principal {
            user_id: 1,
            username: "u".into(),
            role,
            groups: vec![],
            scopes,
            token_id: None,
            session_epoch: None,
            expires_at: None,
            remote_addr: String::new(),
        }
    }

    #[test]
    fn roles_are_ordered() {
        assert!(who(Role::Operator, None).require(Scope::TaskSubmit).is_ok());
        assert!(who(Role::Operator, None).require(Scope::TaskApprove).is_err());
        assert!(who(Role::Viewer, None).require(Scope::Read).is_ok());
        assert!(who(Role::Viewer, None).require(Scope::TaskSubmit).is_err());
        assert!(who(Role::Admin, None).require(Scope::TaskApprove).is_ok());
    }

    #[test]
    fn a_token_never_exceeds_its_scopes() {
        let admin_token = who(Role::Admin, Some(vec![Scope::TaskSubmit]));
        assert!(admin_token.require(Scope::TaskSubmit).is_ok());
        assert!(admin_token.require(Scope::Admin).is_err());
        assert!(admin_token.require(Scope::Read).is_err());
    }
}
