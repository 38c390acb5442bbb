//! Resolving the hosts a task names to registered hosts, with credentials and host keys.
//!
//! A task may name a host by its registered name or address, optionally as `user@host`
//! or `host:port`. Unregistered hosts are refused: without a registered host there is
//! no pinned key to check, and strict host-key checking is not optional.

use std::collections::HashMap;

use super::remote::{Auth, HostKeyPolicy, Target};
use crate::crypto::Keys;
use crate::store::catalogue::{CredentialRow, HostRow};
use crate::store::{self, Db, StoreResult};

/// The hosts and credentials of the catalogue, loaded once per run.
pub struct Catalogue {
    hosts: Vec<HostRow>,
    credentials: HashMap<i64, CredentialRow>,
}

impl Catalogue {
    pub async fn load(db: &Db) -> StoreResult<Catalogue> {
        let hosts = store::catalogue::list_hosts(db).await?;
        let credentials = store::catalogue::list_credentials(db).await?.into_iter().map(|c| (c.id, c)).collect();
        Ok(Catalogue { hosts, credentials })
    }

    /// The connection details of `entry`, or why it cannot be reached.
    pub fn resolve(&self, keys: &Keys, entry: &str) -> Result<Target, String> {
        let (user, rest) = match entry.split_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, entry),
        };
        let (bare, port) = split_port(rest);
        let host = match self.hosts.iter().find(|h| h.name == bare) {
            Some(h) => h,
            None => {
                let by_address: Vec<&HostRow> = self.hosts.iter().filter(|h| h.address == bare).collect();
                match by_address.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(format!(
                        "host {bare} is not registered: add it under /api/v1/hosts with a credential and its host key"
                    ))
                    }
                    several => {
                        let names: Vec<&str> = several.iter().map(|h| h.name.as_str()).collect();
                        return Err(format!(
                            "address {bare} belongs to several registered hosts ({}): name the host instead",
                            names.join(", ")
                        ));
                    }
                }
            }
        };
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
        let host_key = match (&host.host_key_fingerprint, host.trust_on_first_use != 0) {
            (Some(fp), _) => HostKeyPolicy::Pinned(fp.clone()),
            (None, true) => HostKeyPolicy::TrustOnFirstUse,
            (None, false) => {
                return Err(format!(
                    "host {} has no pinned host key: set host_key_fingerprint (ssh-keygen -lf) or trust_on_first_use",
                    host.name
                ))
            }
        };
        Ok(Target {
            name: entry.to_string(),
            address: host.address.clone(),
            port: port.unwrap_or(host.port as u16),
            user: user.map(str::to_string).unwrap_or_else(|| host.login_user.clone()),
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
        let catalogue = Catalogue {
            hosts: vec![host(1, "web-1", "10.0.0.1"), host(2, "web-1-alt", "10.0.0.1"), host(3, "db", "10.0.0.9")],
            credentials: [(1, credential)].into_iter().collect(),
        };
        assert_eq!(catalogue.resolve(&keys, "web-1").unwrap().host_id, 1);
        let t = catalogue.resolve(&keys, "ops@10.0.0.9:2222").unwrap();
        assert_eq!((t.host_id, t.user.as_str(), t.port), (3, "ops", 2222));
        let e = catalogue.resolve(&keys, "10.0.0.1").err().unwrap();
        assert!(e.contains("several registered hosts (web-1, web-1-alt)"), "{e}");
        assert!(catalogue.resolve(&keys, "10.0.0.2").err().unwrap().contains("not registered"));
    }

    #[test]
    fn ports_split_off_hosts_and_bracketed_ipv6() {
        assert_eq!(split_port("web-1"), ("web-1", None));
        assert_eq!(split_port("10.0.0.1:2222"), ("10.0.0.1", Some(2222)));
        assert_eq!(split_port("[::1]:22"), ("[::1]", Some(22)));
        assert_eq!(split_port("fe80::1"), ("fe80::1", None));
    }
}
