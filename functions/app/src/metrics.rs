//! Where a function's CloudWatch metrics go (core builds them: `insight::metrics::Emf`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cartback_core::insight::metrics::Emf;

/// Where a function's CloudWatch metrics (EMF objects) go: a port like the others, so tests
/// and local runs read what a Lambda would print.
#[derive(Debug, Clone, Default)]
pub enum Metrics {
    /// One JSON line on stdout each: in Lambda, CloudWatch Logs turns them into metrics.
    Stdout,
    /// Kept in memory (local runs and tests).
    Memory(Arc<Kept>),
    /// Dropped.
    #[default]
    Off,
}

/// The metrics kept in memory, until told to keep no more.
#[derive(Debug, Default)]
pub struct Kept {
    emitted: Mutex<Vec<Emf>>,
    forgetting: AtomicBool,
}

impl Metrics {
    /// Metrics kept in memory, for `emitted`.
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// From now on, metrics kept in memory are dropped instead, and those kept so far
    /// freed: a long `simulate` run reads none of them and would otherwise hold one object
    /// per message.
    pub fn forget(&self) {
        if let Self::Memory(kept) = self {
            kept.forgetting.store(true, Ordering::Relaxed);
            if let Ok(mut emitted) = kept.emitted.lock() {
                *emitted = Vec::new();
            }
        }
    }

    pub fn emit(&self, emf: Emf) {
        match self {
            Self::Stdout => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", emf.to_line());
            }
            Self::Memory(kept) => {
                if !kept.forgetting.load(Ordering::Relaxed)
                    && let Ok(mut emitted) = kept.emitted.lock()
                {
                    emitted.push(emf);
                }
            }
            Self::Off => {}
        }
    }

    /// What was emitted so far (memory only).
    pub fn emitted(&self) -> Vec<Emf> {
        match self {
            Self::Memory(kept) => kept.emitted.lock().map(|k| k.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cartback_core::insight::metrics::{NAMESPACE, Unit};

    fn sent() -> Emf {
        Emf::new(NAMESPACE, jiff::Timestamp::UNIX_EPOCH).metric("MessagesSent", Unit::Count, 1.0)
    }

    #[test]
    fn kept_metrics_are_freed_and_no_more_are_kept_once_forgotten() {
        let metrics = Metrics::memory();
        metrics.emit(sent());
        assert_eq!(metrics.emitted().len(), 1);
        metrics.forget();
        assert!(metrics.emitted().is_empty());
        metrics.emit(sent());
        assert!(metrics.emitted().is_empty());
    }
}
