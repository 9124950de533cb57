//! Tests that run `reauth` as real processes and kill them: workers SIGKILLed mid-refresh
//! (`kill_refresh`), `serve` stopped with SIGTERM while exchanges are in flight (`sigterm`), and
//! notice senders SIGKILLed mid-wave (`killed_senders`).
//!
//! Every child process a test starts is held by a [`Children`] guard, which kills and reaps it
//! when the guard is dropped — also when the test panics, so a failed run leaves no `reauth
//! worker` holding database connections for the tests after it.

mod kill_refresh;
mod killed_senders;
mod sigterm;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Child processes that are killed (SIGKILL) and waited for when this is dropped, however the
/// test ends. Indexes and iterates like the `Vec<Child>` it holds.
pub(crate) struct Children(Vec<Child>);

impl Children {
    pub(crate) fn new(children: impl IntoIterator<Item = Child>) -> Self {
        Self(children.into_iter().collect())
    }
}

impl std::ops::Deref for Children {
    type Target = Vec<Child>;
    fn deref(&self) -> &Vec<Child> {
        &self.0
    }
}

impl std::ops::DerefMut for Children {
    fn deref_mut(&mut self) -> &mut Vec<Child> {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a mut Children {
    type Item = &'a mut Child;
    type IntoIter = std::slice::IterMut<'a, Child>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // Already exited (and reaped) children answer with an error; nothing to do then.
            child.kill().ok();
            child.wait().ok();
        }
    }
}

pub(crate) fn org_id(i: usize) -> String {
    format!("00D{:012}", i + 1)
}

/// p50, p99 and max of some durations (zeros for none).
pub(crate) fn percentiles(d: &mut [Duration]) -> [Duration; 3] {
    d.sort();
    let at = |q: f64| {
        d.get(((d.len() as f64 * q) as usize).min(d.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    [at(0.5), at(0.99), d.last().copied().unwrap_or_default()]
}

pub(crate) fn spawn_worker(env: &[(String, String)], log: &std::path::Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(reauth_tests::reauth_bin())
        .arg("worker")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap()
}
