//! The process's log, captured for tests that check what is logged (and what never is).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything the process logs at DEBUG and above, as plain text.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures this process's log: the global subscriber, so once per process (nextest runs
    /// each test in a process of its own).
    pub(crate) fn install() -> Self {
        let log = Self::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        log
    }

    /// All that was logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The ERROR lines logged while serving the request with this id.
    pub(crate) fn errors_of(&self, request_id: &str) -> Vec<String> {
        assert!(
            !request_id.is_empty(),
            "every response names its request id"
        );
        self.text()
            .lines()
            .filter(|l| l.contains(" ERROR ") && l.contains(request_id))
            .map(str::to_owned)
            .collect()
    }
}
