//! Counting the SQL statements a case makes, from sqlx's own per-statement events (target
//! `sqlx::query`, emitted by every pool of this process, the vault's lease pool included): a
//! tracing layer that is installed for the whole run but counts only while [`count`] is on, so
//! the other cases pay one relaxed load per statement. Per statement kind (sqlx's summary, the
//! first four words) it keeps the number and the time spent executing (sqlx's `elapsed_secs`,
//! from sending the statement to its last row: pool waits not included).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

static ON: AtomicBool = AtomicBool::new(false);
static COUNTS: Mutex<BTreeMap<String, (u64, f64)>> = Mutex::new(BTreeMap::new());

struct Counter;

impl<S: Subscriber> Layer<S> for Counter {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        if m.target() == "sqlx::query" {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, m: &Metadata<'_>, _: Context<'_, S>) -> bool {
        m.target() == "sqlx::query" && ON.load(Ordering::Relaxed)
    }

    fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
        let mut v = Fields::default();
        e.record(&mut v);
        let mut counts = COUNTS.lock().unwrap();
        let slot = counts.entry(v.summary).or_default();
        slot.0 += 1;
        slot.1 += v.secs;
    }
}

#[derive(Default)]
struct Fields {
    summary: String,
    secs: f64,
}

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "summary" {
            self.summary = v.to_owned();
        }
    }

    fn record_f64(&mut self, f: &Field, v: f64) {
        if f.name() == "elapsed_secs" {
            self.secs = v;
        }
    }

    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "summary" {
            self.summary = format!("{v:?}").trim_matches('"').to_owned();
        }
    }
}

/// Installs the counter as this process's subscriber (it enables nothing else).
pub fn install() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Counter)).unwrap();
}

/// Starts counting from zero.
pub fn count() {
    COUNTS.lock().unwrap().clear();
    ON.store(true, Ordering::Relaxed);
}

/// Stops counting and prints the statements per refresh (`refreshes` made meanwhile).
pub fn report(refreshes: usize) {
    ON.store(false, Ordering::Relaxed);
    let counts = std::mem::take(&mut *COUNTS.lock().unwrap());
    let total: u64 = counts.values().map(|c| c.0).sum();
    let secs: f64 = counts.values().map(|c| c.1).sum();
    println!(
        "    statements: {total} in {refreshes} refreshes = {:.2} per refresh; executing them took {:.1} s of connection time",
        total as f64 / refreshes.max(1) as f64,
        secs
    );
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.0));
    for (summary, (n, s)) in rows {
        println!(
            "      {:>8.3} per refresh  {:>8.3} ms each  {summary}",
            n as f64 / refreshes.max(1) as f64,
            s * 1000.0 / n.max(1) as f64
        );
    }
}
