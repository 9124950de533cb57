//! This process's one name: the owner written into leases, and the prefix of its job workers'
//! names. Unique among live processes (host, pid and random bits), stable for the process's life.

use std::sync::Arc;

/// A process's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessId(Arc<str>);

impl ProcessId {
    /// A fresh name for a process of `role` (`serve`, `worker`, `cli`…).
    pub fn new(role: &str) -> Self {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Self(
            format!(
                "{role}@{host}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )
            .into(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of one of this process's job workers (apalis refuses two live workers with the
    /// same name).
    pub fn worker_name(&self, job: &str) -> String {
        format!("{job}/{}", self.0)
    }
}

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
