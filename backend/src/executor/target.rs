//! Resolving the hosts a task names to registered hosts, with credentials and host keys.
//!
//! A task may name a host by its registered name or address, optionally as `user@host`
//! or `host:port` spelling out the host's own login user and port: the credential is the
//! host's, so the user and port it is used with are the host's too, never the
//! submitter's. Unregistered hosts are refused: without a registered host there is no
//! pinned key to check, and strict host-key checking is not optional.

use std::collections::HashMap;

use super::remote::{Auth, HostKeyPolicy, Target};
use crate::crypto::Keys;
use crate::store::catalogue::{CredentialRow, HostKeyRow, HostRow};
use crate::store::{self, Db, StoreResult};

/// The hosts, credentials and first-use keys of the catalogue, loaded once per run.
pub struct Catalogue {
    hosts: Vec<HostRow>,
    credentials: HashMap<i64, CredentialRow>,
    first_use: HashMap<(String, i64), String>,
}

/// A host entry taken apart: `user@host:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub user: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<u16>,
}

impl<'a> Entry<'a> {
    pub fn parse(entry: &'a str) -> Entry<'a> {
        let (user, rest) = match entry.split_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, entry),
        };
        let (host, port) = split_port(rest);
        Entry { user, host, port }
    }
}

/// Why an entry names no single registered host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmatched {
    NotRegistered(String),
    Ambiguous(String),
    /// It names a host, but with a login user or port the host does not register.
    Steered(String),
}

impl std::fmt::Display for Unmatched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmatched::NotRegistered(m) | Unmatched::Ambiguous(m) | Unmatched::Steered(m) => f.write_str(m),
        }
    }
}

fn bare(address: &str) -> &str {
    address.trim_start_matches('[').trim_end_matches(']')
}

/// The registered host `entry` names (by name, else by address; a port narrows the
/// hosts at one address), refusing a user or port other than the host's own.
pub fn find_host<'h>(hosts: &'h [HostRow], entry: &str) -> Result<&'h HostRow, Unmatched> {
    let e = Entry::parse(entry);
    let host = match hosts.iter().find(|h| h.name == e.host) {
        Some(h) => h,
        None => {
            let at_address: Vec<&HostRow> = hosts.iter().filter(|h| bare(&h.address) == bare(e.host)).collect();
            let on_port: Vec<&HostRow> = match e.port {
                Some(p) => at_address.iter().copied().filter(|h| h.port == i64::from(p)).collect(),
                None => at_address.clone(),
            };
            match (on_port.as_slice(), at_address.first()) {
                ([one], _) => *one,
                ([], None) => {
                    return Err(Unmatched::NotRegistered(format!(
                        "host {} is not registered: add it under /api/v1/hosts with a credential and its host key",
                        e.host
                    )))
                }
                ([], Some(h)) => *h,
                (several, _) => {
                    let names: Vec<&str> = several.iter().map(|h| h.name.as_str()).collect();
                    return Err(Unmatched::Ambiguous(format!(
                        "address {} belongs to several registered hosts ({}): name the host instead",
                        e.host,
                        names.join(", ")
                    )));
                }
            }
        }
    };
    if let Some(user) = e.user.filter(|u| *u != host.login_user) {
        return Err(Unmatched::Steered(format!(
            "{entry} asks for login user {user:?}, but host {} logs in as {:?} with its credential: \
             a task cannot choose another user (an admin registers a host for it)",
            host.name, host.login_user
        )));
    }
    if let Some(port) = e.port.filter(|p| i64::from(*p) != host.port) {
        return Err(Unmatched::Steered(format!(
            "{entry} asks for port {port}, but host {} is registered on port {}: \
             a task cannot choose another port (an admin registers a host for it)",
            host.name, host.port
        )));
    }
    Ok(host)
}

impl Catalogue {
    pub async fn load(db: &Db) -> StoreResult<Catalogue> {
        let hosts = store::catalogue::list_hosts(db).await?;
        let credentials = store::catalogue::list_credentials(db).await?.into_iter().map(|c| (c.id, c)).collect();
        let first_use = store::catalogue::list_host_keys(db)
            .await?
            .into_iter()
            .map(|HostKeyRow { address, port, fingerprint, .. }| ((address, port), fingerprint))
            .collect();
        Ok(Catalogue { hosts, credentials, first_use })
    }

    /// The connection details of `entry`, or why it cannot be reached. The host record
    /// may have changed since the task was submitted, so user and port are checked again.
    pub fn resolve(&self, keys: &Keys, entry: &str) -> Result<Target, String> {
        let host = find_host(&self.hosts, entry).map_err(|e| match e {
            Unmatched::Steered(m) => format!("refused: {m}"),
            other => other.to_string(),
        })?;
        let credential_id =
            host.credential_id.ok_or_else(|| format!("host {} has no credential to log in with", host.name))?;
        let credential = self
            .credentials
            .get(&credential_id)
            .ok_or_else(|| format!("credential {credential_id} of host {} no longer exists", host.name))?;
        let secret =
            keys.decrypt(&credential.secret_enc).map_err(|e| format!("credential {}: {e}", credential.name))?;
        let auth = if credential.kind == "password" {
            Auth::Password(secret)
        } else {
            let passphrase = match &credential.passphrase_enc {
                Some(p) => Some(keys.decrypt(p).map_err(|e| format!("credential {}: {e}", credential.name))?),
                None => None,
            };
            Auth::Key { pem: secret, passphrase }
        };
        let recorded = self.first_use.get(&(host.address.clone(), host.port));
        let host_key = match (&host.host_key_fingerprint, host.trust_on_first_use != 0, recorded) {
            (Some(fp), _, _) => HostKeyPolicy::Pinned(fp.clone()),
            (None, true, Some(fp)) => HostKeyPolicy::Recorded(fp.clone()),
            (None, true, None) => HostKeyPolicy::TrustOnFirstUse,
            (None, false, _) => {
                return Err(format!(
                    "host {} has no pinned host key: set host_key_fingerprint (ssh-keygen -lf) or trust_on_first_use",
                    host.name
                ))
            }
        };
        let port =
            u16::try_from(host.port).map_err(|_| format!("host {} has an invalid port {}", host.name, host.port))?;
        Ok(Target {
            name: entry.to_string(),
            address: host.address.clone(),
            port,
            user: host.login_user.clone(),
            auth,
            host_key,
            host_id: host.id,
        })
    }
}

/// `host:22` → (`host`, 22); `[::1]:22` → (`[::1]`, 22); a bare IPv6 address keeps its colons.
fn split_port(s: &str) -> (&str, Option<u16>) {
    if let Some(end) = s.find(']') {
        let port = s[end + 1..].strip_prefix(':').and_then(|p| p.parse().ok());
        return (&s[..=end], port);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (s, None),
        },
        _ => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: i64, name: &str, address: &str) -> HostRow {
        HostRow {
            id,
            name: name.into(),
            address: address.into(),
            port: 22,
            login_user: "deploy".into(),
            labels: "[]".into(),
            credential_id: Some(1),
            host_key_fingerprint: Some("SHA256:x".into()),
            trust_on_first_use: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn hosts_resolve_by_name_then_by_an_unambiguous_address() {
        let keys = Keys::from_secret(b"k");
        let credential = CredentialRow {
            id: 1,
            name: "c".into(),
            kind: "password".into(),
            username: None,
            description: String::new(),
            secret_enc: keys.encrypt("pw"),
            passphrase_enc: None,
            created_at: 0,
            updated_at: 0,
        };
        let mut alt = host(2, "web-1-alt", "10.0.0.1");
        alt.port = 2222;
        let catalogue = Catalogue {
            hosts: vec![host(1, "web-1", "10.0.0.1"), alt, host(3, "db", "10.0.0.9")],
            credentials: [(1, credential)].into_iter().collect(),
            first_use: HashMap::new(),
        };
        assert_eq!(catalogue.resolve(&keys, "web-1").unwrap().host_id, 1);
        let t = catalogue.resolve(&keys, "deploy@10.0.0.9:22").unwrap();
        assert_eq!((t.host_id, t.user.as_str(), t.port), (3, "deploy", 22), "the host's own values spelled out");
        let e = catalogue.resolve(&keys, "10.0.0.1").err().unwrap();
        assert!(e.contains("several registered hosts (web-1, web-1-alt)"), "{e}");
        assert_eq!(catalogue.resolve(&keys, "10.0.0.1:2222").unwrap().host_id, 2, "a port narrows an address");
        assert!(catalogue.resolve(&keys, "10.0.0.2").err().unwrap().contains("not registered"));
    }

    #[test]
    fn a_task_cannot_steer_a_hosts_credential_to_another_user_or_port() {
        let keys = Keys::from_secret(b"k");
        let credential = CredentialRow {
            id: 1,
            name: "pw".into(),
            kind: "password".into(),
            username: None,
            description: String::new(),
            secret_enc: keys.encrypt("the-password"),
            passphrase_enc: None,
            created_at: 0,
            updated_at: 0,
        };
        let catalogue = Catalogue {
            hosts: vec![host(1, "web-1", "10.0.0.1")],
            credentials: [(1, credential)].into_iter().collect(),
            first_use: HashMap::new(),
        };
        for entry in ["root@web-1", "web-1:2222", "deploy@web-1:2222", "root@10.0.0.1:22", "10.0.0.1:2222"] {
            let e = catalogue.resolve(&keys, entry).err().unwrap_or_else(|| panic!("{entry} resolved"));
            assert!(e.starts_with("refused: ") && e.contains("cannot choose another"), "{entry}: {e}");
        }
        for entry in ["web-1", "deploy@web-1", "web-1:22", "deploy@10.0.0.1:22"] {
            let t = catalogue.resolve(&keys, entry).unwrap();
            assert_eq!((t.user.as_str(), t.port), ("deploy", 22), "{entry}");
        }
    }

    #[test]
    fn a_first_use_host_takes_the_key_recorded_for_its_address_and_port() {
        let keys = Keys::from_secret(b"k");
        let credential = CredentialRow {
            id: 1,
            name: "k".into(),
            kind: "private_key".into(),
            username: None,
            description: String::new(),
            secret_enc: keys.encrypt("pem"),
            passphrase_enc: None,
            created_at: 0,
            updated_at: 0,
        };
        let tofu = |id, name: &str| HostRow {
            host_key_fingerprint: None,
            trust_on_first_use: 1,
            ..host(id, name, "10.0.0.1")
        };
        let catalogue = Catalogue {
            hosts: vec![tofu(1, "a"), HostRow { port: 2222, ..tofu(2, "b") }],
            credentials: [(1, credential)].into_iter().collect(),
            first_use: [(("10.0.0.1".to_string(), 22), "SHA256:seen".to_string())].into_iter().collect(),
        };
        assert_eq!(catalogue.resolve(&keys, "a").unwrap().host_key, HostKeyPolicy::Recorded("SHA256:seen".into()));
        assert_eq!(catalogue.resolve(&keys, "b").unwrap().host_key, HostKeyPolicy::TrustOnFirstUse);
    }

    #[test]
    fn ports_split_off_hosts_and_bracketed_ipv6() {
        assert_eq!(split_port("web-1"), ("web-1", None));
        assert_eq!(split_port("10.0.0.1:2222"), ("10.0.0.1", Some(2222)));
        assert_eq!(split_port("[::1]:22"), ("[::1]", Some(22)));
        assert_eq!(split_port("fe80::1"), ("fe80::1", None));
    }
}
