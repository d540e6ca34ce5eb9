//! Where a function's CloudWatch metrics go (core builds them: `insight::metrics::Emf`).

use std::sync::{Arc, Mutex};

use cartback_core::insight::metrics::Emf;

/// Where a function's CloudWatch metrics (EMF objects) go: a port like the others, so tests
/// and local runs read what a Lambda would print.
#[derive(Debug, Clone, Default)]
pub enum Metrics {
    /// One JSON line on stdout each: in Lambda, CloudWatch Logs turns them into metrics.
    Stdout,
    /// Kept in memory (local runs and tests).
    Memory(Arc<Mutex<Vec<Emf>>>),
    /// Dropped.
    #[default]
    Off,
}

impl Metrics {
    /// Metrics kept in memory, for `emitted`.
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    pub fn emit(&self, emf: Emf) {
        match self {
            Self::Stdout => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", emf.to_line());
            }
            Self::Memory(kept) => {
                if let Ok(mut kept) = kept.lock() {
                    kept.push(emf);
                }
            }
            Self::Off => {}
        }
    }

    /// What was emitted so far (memory only).
    pub fn emitted(&self) -> Vec<Emf> {
        match self {
            Self::Memory(kept) => kept.lock().map(|k| k.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}
