//! What happened in the local stack that the table does not keep: webhook deliveries and
//! their answers, every sender wake-up's outcome (deferred, re-armed, stale …) and the
//! outbox's buttons. Shown on the outbox page; echoed to the terminal without personal data.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cartback_core::model::ids::log_hash;
use jiff::Timestamp;

/// Where an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An HTTP request to a function (webhook, unsubscribe).
    Request,
    /// A sender wake-up whose outcome the cart records itself (a step sent or skipped).
    Step,
    /// Any other sender wake-up (deferred, re-armed, stopped, stale, failed).
    Sender,
    /// A button on the outbox.
    Action,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// The stack's clock.
    pub at: Timestamp,
    pub shop: String,
    pub cart: Option<String>,
    pub source: Source,
    /// For the page (may quote a subject or an SMS text).
    pub text: String,
}

/// The entries so far, and a version that moves whenever the outbox may have changed.
#[derive(Default)]
pub struct Journal {
    entries: Mutex<Vec<Entry>>,
    version: AtomicU64,
    /// Echo to stdout (off in tests of the page).
    echo: bool,
}

impl Journal {
    pub fn echoing() -> Self {
        Self {
            echo: true,
            ..Self::default()
        }
    }

    /// Adds an entry; `console` is what the terminal shows (no address, name or text).
    pub fn add(&self, entry: Entry, console: &str) {
        if self.echo {
            let cart = entry
                .cart
                .as_deref()
                .map(|cart| format!(" cart {}", log_hash(&[entry.shop.as_str(), cart])))
                .unwrap_or_default();
            let _ = writeln!(
                std::io::stdout().lock(),
                "[{}] {}{cart}: {console}",
                entry.at.strftime("%Y-%m-%d %H:%M"),
                entry.shop,
            );
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.push(entry);
        }
        self.bump();
    }

    /// Something changed that the page shows.
    pub fn bump(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}
