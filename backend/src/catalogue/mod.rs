//! The library users build tasks from: commands, parameter aliases, templates, hosts and
//! credentials. Each file holds one kind's rules; `store::catalogue` holds the rows.

pub mod aliases;
pub mod commands;
pub mod credentials;
pub mod hosts;
pub mod templates;

use std::collections::BTreeSet;

use api_types::{validate, Message};

use crate::error::{ServiceError, ServiceResult};

/// Parameters the server provides to every step; templates may use them without declaring them.
pub const BUILTIN_PARAMS: &[&str] =
    &["TASK_ID", "FLOW_ID", "TASK_NAME", "SUBMITTER", "EXECUTOR", "EXEC_TIME", "HOST", "HOST_GROUP", "STEP_NAME"];

/// Checks that a body parses as a minijinja template and returns the parameters it reads.
pub fn body_params(field: &str, body: &str) -> ServiceResult<BTreeSet<String>> {
    let env = minijinja::Environment::new();
    let template = env.template_from_str(body).map_err(|e| {
        ServiceError::validation(field, Message::new("is not a valid template: {error}").arg("error", e))
    })?;
    Ok(template.undeclared_variables(false).into_iter().filter(|v| !BUILTIN_PARAMS.contains(&v.as_str())).collect())
}

/// The save-time check of a step body for `interpreter`: it parses, every name it reads
/// can be an environment variable, and, rendered with stand-in values, each placeholder
/// lands where its value can be escaped (`executor::render::check_body`).
pub fn check_body(field: &str, body: &str, interpreter: &str, raw: bool) -> ServiceResult<()> {
    for name in body_params(field, body)? {
        validate::param_key(field, &name).map_err(|e| {
            ServiceError::validation(
                field,
                Message::new("placeholder {placeholder}: {reason}")
                    .arg("placeholder", format!("{{{{ {name} }}}}"))
                    .nested("reason", e.say),
            )
        })?;
    }
    crate::executor::render::check_body(body, interpreter, raw, BUILTIN_PARAMS)
        .map_err(|m| ServiceError::validation(field, m))
}

pub fn check_timeout(field: &str, secs: i64) -> ServiceResult<()> {
    if !(1..=7 * 86_400).contains(&secs) {
        return Err(ServiceError::validation(field, "must be between 1 and 604800 seconds"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_params_lists_placeholders_but_not_builtins() {
        let p = body_params("body", "deploy {{ VERSION }} to {{ HOST }} {% if DRY %}-n{% endif %}").unwrap();
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["DRY", "VERSION"]);
    }

    #[test]
    fn bodies_reading_reserved_names_or_misplacing_placeholders_are_refused() {
        let field = |e: ServiceError| match e {
            ServiceError::Validation(f) => (f.field, f.message),
            other => panic!("{other:?}"),
        };
        let (f, m) = field(check_body("body", "echo {{ PATH }}", "bash", false).unwrap_err());
        assert_eq!(f, "body");
        assert!(m.contains("PATH is reserved"), "{m}");
        let (_, m) = field(check_body("steps[1].script", "echo ok # {{ TASK_NAME }}", "bash", false).unwrap_err());
        assert!(m.contains("comment"), "{m}");
        assert!(
            check_body("body", "echo \"{{ V }}\" {% for i in range(2) %}{{ i }}{% endfor %}", "bash", false).is_ok()
        );
    }

    #[test]
    fn unparseable_bodies_are_refused_with_the_field() {
        let e = body_params("steps[0].script", "echo {{ VERSION").unwrap_err();
        assert!(matches!(e, ServiceError::Validation(f) if f.field == "steps[0].script"));
    }
}
