//! A task's arguments at rest: secret values sealed (encrypted) when stored, opened only
//! for the digest and the executor, masked in every answer; and the approval digest that
//! binds an approval to what will run.

use std::collections::BTreeMap;

use super::TaskError;
use crate::catalogue::templates::Snapshot;
use crate::crypto::Keys;

/// What answers show instead of a secret value.
pub const MASK: &str = "******";

fn is_secret(snapshot: &Snapshot, key: &str) -> bool {
    snapshot.params.iter().any(|p| p.key == key && p.secret)
}

/// Encrypts the values of secret parameters for storage.
pub fn seal_args(keys: &Keys, snapshot: &Snapshot, args: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    args.iter().map(|(k, v)| (k.clone(), if is_secret(snapshot, k) { keys.encrypt(v) } else { v.clone() })).collect()
}

/// Decrypts stored arguments (for the digest and the executor).
pub fn open_args(
    keys: &Keys,
    snapshot: &Snapshot,
    stored: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, TaskError> {
    stored
        .iter()
        .map(|(k, v)| {
            let v = if is_secret(snapshot, k) && Keys::is_encrypted(v) {
                keys.decrypt(v).map_err(|source| TaskError::Sealed { key: k.clone(), source })?
            } else {
                v.clone()
            };
            Ok((k.clone(), v))
        })
        .collect()
}

/// What responses show: secret values replaced by a mask.
pub fn mask_args(snapshot: &Snapshot, stored: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    stored.iter().map(|(k, v)| (k.clone(), if is_secret(snapshot, k) { MASK.to_string() } else { v.clone() })).collect()
}

/// The digest an approval is bound to: keyed SHA-256 over the snapshot exactly as stored
/// (written once at submission and never rewritten, so later code that reads it
/// differently cannot change the digest), the plain arguments and the hosts.
pub fn digest(
    keys: &Keys,
    snapshot_json: &str,
    args: &BTreeMap<String, String>,
    hosts: &BTreeMap<String, Vec<String>>,
) -> String {
    let doc = format!(
        "{snapshot_json}\n{}\n{}",
        serde_json::to_string(args).expect("plain data"),
        serde_json::to_string(hosts).expect("plain data")
    );
    keys.digest(doc.as_bytes())
}

/// The digest as answers and the audit log show it: bound to the task, so that equal
/// contents in two tasks never show equal digests. The plain one covers secret values,
/// and comparing it across tasks told whether a masked secret (a secret alias's default,
/// another user's password) equals a guess submitted in a task of one's own.
pub fn shown_digest(keys: &Keys, task_id: i64, digest: &str) -> String {
    keys.digest(format!("task {task_id}\n{digest}").as_bytes())
}
