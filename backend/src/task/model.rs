//! The task as stored, decoded once: its status as an enum, its snapshot, hosts and
//! sealed arguments as types, so that nothing downstream parses JSON or compares a
//! status as a string.

use std::collections::BTreeMap;

use api_types::TaskStatus;

use super::{sealed, TaskError};
use crate::catalogue::templates::Snapshot;
use crate::crypto::Keys;
use crate::store::{self, from_json, tasks::TaskRow, Db};

pub struct Task {
    pub row: TaskRow,
    pub snapshot: Snapshot,
    pub hosts: BTreeMap<String, Vec<String>>,
    /// Arguments as stored: values of secret parameters sealed.
    pub sealed_args: BTreeMap<String, String>,
}

impl Task {
    pub fn decode(row: TaskRow) -> Result<Task, TaskError> {
        let snapshot: Snapshot = from_json("tasks.template_snapshot", &row.template_snapshot)?;
        let hosts = from_json("tasks.hosts", &row.hosts)?;
        let sealed_args = from_json("tasks.args", &row.args)?;
        Ok(Task { row, snapshot, hosts, sealed_args })
    }

    pub async fn load(db: &Db, id: i64) -> Result<Task, TaskError> {
        Task::decode(store::tasks::get(db, id).await?)
    }

    pub fn status(&self) -> TaskStatus {
        self.row.status
    }

    /// The arguments with secret values opened.
    pub fn open_args(&self, keys: &Keys) -> Result<BTreeMap<String, String>, TaskError> {
        sealed::open_args(keys, &self.snapshot, &self.sealed_args)
    }

    /// The values of the task's secret parameters, to be masked wherever output goes.
    pub fn secret_values(&self, args: &BTreeMap<String, String>) -> Vec<String> {
        self.snapshot.params.iter().filter(|p| p.secret).filter_map(|p| args.get(&p.key).cloned()).collect()
    }

    /// The digest of what this task would run now.
    pub fn digest(&self, keys: &Keys) -> Result<String, TaskError> {
        Ok(sealed::digest(keys, &self.row.template_snapshot, &self.open_args(keys)?, &self.hosts))
    }

    /// Whether an approved task still is what was approved (a task without an approval
    /// needs none).
    pub async fn approval_holds(&self, db: &Db, keys: &Keys) -> Result<bool, TaskError> {
        match self.row.approval_id {
            None => Ok(true),
            Some(aid) => Ok(store::tasks::get_approval(db, aid).await?.digest == self.digest(keys)?),
        }
    }
}
