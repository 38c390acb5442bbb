//! Checking what a submitter gives against the template snapshot: arguments, hosts and
//! `exec_time`. Pure functions, so every rule is tested without a server.

use std::collections::BTreeMap;

use api_types::{validate, Alias, Message, ParamType};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};

use crate::catalogue::templates::Snapshot;
use crate::crypto::Keys;
use crate::error::{ServiceError, ServiceResult};
use crate::executor::target::{find_host, Unmatched};
use crate::store::catalogue::HostRow;

pub use crate::task::sealed::{digest, mask_args, seal_args, shown_digest, MASK};

/// Decrypts stored arguments (for the digest).
pub fn open_args(
    keys: &Keys,
    snapshot: &Snapshot,
    stored: &BTreeMap<String, String>,
) -> ServiceResult<BTreeMap<String, String>> {
    Ok(crate::task::sealed::open_args(keys, snapshot, stored)?)
}

/// The most hosts one group of a task may list.
pub const MAX_HOSTS_PER_GROUP: usize = 10_000;

fn required(p: &Alias) -> Message {
    Message::new("{label} ({key}) is required").arg("label", &p.label).arg("key", &p.key)
}

/// Applies defaults, refuses unknown keys, and checks every value against its rules.
/// A secret parameter given as the mask (`******`, what forms show for a hidden
/// default) counts as not given.
pub fn check_args(
    keys: &Keys,
    snapshot: &Snapshot,
    given: &BTreeMap<String, String>,
) -> ServiceResult<BTreeMap<String, String>> {
    if let Some(unknown) = given.keys().find(|k| !snapshot.params.iter().any(|p| &p.key == *k)) {
        let known: Vec<&str> = snapshot.params.iter().map(|p| p.key.as_str()).collect();
        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        return Err(ServiceError::validation(
            format!("args.{unknown}"),
            Message::new("template {template} has no parameter {key}; it takes: {known}")
                .arg("template", format!("{:?}", snapshot.name))
                .arg("key", format!("{unknown:?}"))
                .arg("known", known),
        ));
    }
    let mut args = BTreeMap::new();
    for p in &snapshot.params {
        let field = format!("args.{}", p.key);
        let given = given.get(&p.key).filter(|v| !(p.secret && v.as_str() == MASK));
        let default = crate::catalogue::aliases::plain_default(keys, p)?;
        let value = match given.or(default.as_ref()) {
            Some(v) if v.is_empty() && p.required => return Err(ServiceError::validation(field, required(p))),
            Some(v) => v.clone(),
            None if p.required => return Err(ServiceError::validation(field, required(p))),
            None => continue,
        };
        if !value.is_empty() {
            validate::param_value(&field, p, &value)?;
        }
        let value = if p.param_type == ParamType::Bool {
            validate::parse_bool(&value).map(|b| b.to_string()).unwrap_or(value)
        } else {
            value
        };
        args.insert(p.key.clone(), value);
    }
    Ok(args)
}

/// Values an outside party chose (a git pusher's tag) go into the shell unquoted in a
/// `raw_params` template: each such argument must be held to a validation pattern.
pub fn check_external_args(snapshot: &Snapshot, keys: &[String]) -> ServiceResult<()> {
    if !snapshot.raw_params {
        return Ok(());
    }
    for key in keys {
        if let Some(p) = snapshot.params.iter().find(|p| &p.key == key && p.pattern.is_none()) {
            return Err(ServiceError::validation(
                format!("args.{}", p.key),
                Message::new(
                    "template {template} inserts arguments unquoted: give {key} a validation pattern (its alias) \
                     before a value chosen outside Taskgate, such as a pushed tag, may fill it",
                )
                .arg("template", format!("{:?}", snapshot.name))
                .arg("key", &p.key),
            ));
        }
    }
    Ok(())
}

/// Every host group the template uses gets at least one host; no other group is named.
pub fn check_hosts(
    snapshot: &Snapshot,
    given: &BTreeMap<String, Vec<String>>,
) -> ServiceResult<BTreeMap<String, Vec<String>>> {
    let expected: Vec<&String> = snapshot.host_groups().collect();
    if let Some(extra) = given.keys().find(|g| !expected.contains(g)) {
        let list = expected.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ServiceError::validation(
            format!("hosts.{extra}"),
            if list.is_empty() {
                Message::new("template {template} has no host group {group}; it runs on the server only")
            } else {
                Message::new("template {template} has no host group {group}; its groups are: {groups}")
            }
            .arg("template", format!("{:?}", snapshot.name))
            .arg("group", format!("{extra:?}"))
            .arg("groups", list),
        ));
    }
    let mut hosts = BTreeMap::new();
    for g in expected {
        let field = format!("hosts.{g}");
        let list = given.get(g).filter(|l| !l.is_empty()).ok_or_else(|| {
            ServiceError::validation(&field, Message::new("group {group} needs at least one host").arg("group", g))
        })?;
        if list.len() > MAX_HOSTS_PER_GROUP {
            return Err(ServiceError::validation(
                &field,
                Message::new("at most {max} hosts per group").arg("max", MAX_HOSTS_PER_GROUP),
            ));
        }
        let mut seen = Vec::with_capacity(list.len());
        for (i, h) in list.iter().enumerate() {
            let h = h.trim();
            validate::host_entry(&format!("{field}[{i}]"), h)?;
            if seen.iter().any(|s: &String| s == h) {
                return Err(ServiceError::validation(
                    format!("{field}[{i}]"),
                    Message::new("{host} is listed twice").arg("host", format!("{h:?}")),
                ));
            }
            seen.push(h.to_string());
        }
        hosts.insert(g.clone(), seen);
    }
    Ok(hosts)
}

/// An entry naming a registered host (of `registered`) gives no login user or port but
/// the host's own: the host's credential goes only where an admin registered it.
/// (Unregistered entries are refused when the task runs.)
pub fn check_logins(hosts: &BTreeMap<String, Vec<String>>, registered: &[HostRow]) -> ServiceResult<()> {
    for (group, list) in hosts {
        for (i, h) in list.iter().enumerate() {
            if let Err(Unmatched::Steered(message)) = find_host(registered, h) {
                return Err(ServiceError::validation(format!("hosts.{group}[{i}]"), message));
            }
        }
    }
    Ok(())
}

/// RFC 3339, or `YYYY-mm-dd HH:MM[:SS]` (CODO's form, digits may be unpadded) read in `tz`.
pub fn parse_exec_time(field: &str, text: &str, tz: chrono_tz::Tz) -> ServiceResult<i64> {
    let text = text.trim();
    let bad = || {
        ServiceError::validation(
            field,
            Message::new("{text} is not a time; use RFC 3339 (2026-01-31T18:00:00+08:00) or 2026-01-31 18:00:00")
                .arg("text", format!("{text:?}")),
        )
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        .ok_or_else(bad)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp_millis()),
        chrono::LocalResult::Ambiguous(..) => Err(ServiceError::validation(
            field,
            Message::new("{text} happens twice in {tz} (clocks go back); give an offset")
                .arg("text", text)
                .arg("tz", tz),
        )),
        chrono::LocalResult::None => Err(ServiceError::validation(
            field,
            Message::new("{text} does not exist in {tz} (clocks go forward)").arg("text", text).arg("tz", tz),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{aliases::implicit, templates::SnapshotStep};
    use api_types::{Alias, OnFailure, Strategy, Trigger};

    fn snapshot(params: Vec<Alias>, groups: &[&str]) -> Snapshot {
        Snapshot {
            template_id: 1,
            name: "deploy".into(),
            strategy: Strategy::Free,
            canary_size: 1,
            raw_params: false,
            approver_group: None,
            approval_timeout_secs: None,
            require_approval: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            steps: vec![SnapshotStep {
                name: "s".into(),
                group: groups[0].into(),
                command_id: None,
                interpreter: "bash".into(),
                body: "true".into(),
                timeout_secs: 5,
                retries: 0,
                on_failure: OnFailure::Stop,
                trigger: Trigger::Auto,
            }],
            params,
        }
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn field_of(e: ServiceError) -> String {
        match e {
            ServiceError::Validation(f) => f.field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_in_and_unknown_keys_are_refused() {
        let env = Alias { default: Some("qa".into()), required: false, ..implicit("ENV") };
        let s = snapshot(vec![implicit("TAG"), env], &["1"]);
        let keys = Keys::from_secret(b"k");
        let got = check_args(&keys, &s, &args(&[("TAG", "v1")])).unwrap();
        assert_eq!(got, args(&[("ENV", "qa"), ("TAG", "v1")]));
        assert_eq!(field_of(check_args(&keys, &s, &args(&[("TAG", "v1"), ("TGA", "x")])).unwrap_err()), "args.TGA");
        assert_eq!(field_of(check_args(&keys, &s, &args(&[])).unwrap_err()), "args.TAG");
    }

    #[test]
    fn a_secret_default_is_opened_and_the_mask_means_not_given() {
        let keys = Keys::from_secret(b"k");
        let pw = Alias { secret: true, required: false, default: Some(keys.encrypt("hunter2")), ..implicit("PW") };
        let s = snapshot(vec![pw], &["1"]);
        assert_eq!(check_args(&keys, &s, &args(&[])).unwrap(), args(&[("PW", "hunter2")]));
        assert_eq!(check_args(&keys, &s, &args(&[("PW", MASK)])).unwrap(), args(&[("PW", "hunter2")]));
        assert_eq!(check_args(&keys, &s, &args(&[("PW", "other")])).unwrap(), args(&[("PW", "other")]));
    }

    #[test]
    fn every_group_needs_hosts_and_no_others_are_named() {
        let s = snapshot(vec![], &["1", "local", "2"]);
        let mut hosts = BTreeMap::new();
        hosts.insert("1".to_string(), vec!["10.0.0.1".to_string()]);
        assert_eq!(field_of(check_hosts(&s, &hosts).unwrap_err()), "hosts.2");
        hosts.insert("2".to_string(), vec!["10.0.0.2".to_string()]);
        assert!(check_hosts(&s, &hosts).is_ok());
        hosts.insert("3".to_string(), vec!["10.0.0.3".to_string()]);
        assert_eq!(field_of(check_hosts(&s, &hosts).unwrap_err()), "hosts.3");
    }

    #[test]
    fn a_registered_host_is_named_only_with_its_own_user_and_port() {
        let web = HostRow {
            id: 1,
            name: "web-1".into(),
            address: "10.0.0.1".into(),
            port: 22,
            login_user: "deploy".into(),
            labels: "[]".into(),
            credential_id: Some(1),
            host_key_fingerprint: None,
            trust_on_first_use: 1,
            created_at: 0,
            updated_at: 0,
        };
        let given = |entries: &[&str]| -> BTreeMap<String, Vec<String>> {
            [("1".to_string(), entries.iter().map(|e| e.to_string()).collect())].into_iter().collect()
        };
        let ok = given(&["web-1", "deploy@web-1:22", "10.0.0.1:22", "unregistered:2222", "root@10.0.0.9"]);
        assert!(check_logins(&ok, std::slice::from_ref(&web)).is_ok());
        for bad in ["root@web-1", "web-1:2222", "deploy@10.0.0.1:2200"] {
            let e = check_logins(&given(&["web-1:22", bad]), std::slice::from_ref(&web)).unwrap_err();
            assert_eq!(field_of(e), "hosts.1[1]", "{bad}");
        }
    }

    #[test]
    fn exec_time_reads_codo_form_in_the_server_zone() {
        let shanghai = chrono_tz::Asia::Shanghai;
        let codo = parse_exec_time("exec_time", "2019-5-24 09:09:50", shanghai).unwrap();
        let rfc = parse_exec_time("exec_time", "2019-05-24T01:09:50Z", chrono_tz::UTC).unwrap();
        assert_eq!(codo, rfc);
        assert!(parse_exec_time("exec_time", "tomorrow", shanghai).is_err());
    }

    #[test]
    fn secrets_are_sealed_masked_and_opened() {
        let keys = Keys::from_secret(b"k");
        let pw = Alias { secret: true, ..implicit("DB_PASSWORD") };
        let s = snapshot(vec![pw, implicit("TAG")], &["1"]);
        let plain = args(&[("DB_PASSWORD", "hunter2"), ("TAG", "v1")]);
        let sealed = seal_args(&keys, &s, &plain);
        assert_ne!(sealed["DB_PASSWORD"], "hunter2");
        assert_eq!(sealed["TAG"], "v1");
        assert_eq!(mask_args(&s, &sealed)["DB_PASSWORD"], MASK);
        assert_eq!(open_args(&keys, &s, &sealed).unwrap(), plain);
    }

    #[test]
    fn digest_changes_with_args_and_hosts() {
        let keys = Keys::from_secret(b"k");
        let s = serde_json::to_string(&snapshot(vec![implicit("TAG")], &["1"])).unwrap();
        let mut hosts = BTreeMap::new();
        hosts.insert("1".to_string(), vec!["a".to_string()]);
        let d1 = digest(&keys, &s, &args(&[("TAG", "v1")]), &hosts);
        assert_eq!(d1, digest(&keys, &s, &args(&[("TAG", "v1")]), &hosts));
        assert_ne!(d1, digest(&keys, &s, &args(&[("TAG", "v2")]), &hosts));
        assert_ne!(d1, digest(&keys, &s.replace("deploy", "depl0y"), &args(&[("TAG", "v1")]), &hosts));
        hosts.insert("1".to_string(), vec!["b".to_string()]);
        assert_ne!(d1, digest(&keys, &s, &args(&[("TAG", "v1")]), &hosts));
    }
}
