//! What the long-running workers of `serve` report about themselves, for the
//! log and `/healthz`: running, or restarting after a failure and why.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    /// Failed or panicked; started again after a backoff.
    Restarting {
        reason: String,
    },
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHealth {
    pub name: String,
    pub state: WorkerState,
    /// How often it has been started again since `serve` began.
    pub restarts: u32,
}

/// The registry of workers; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Health {
    workers: Mutex<BTreeMap<String, WorkerHealth>>,
}

impl Health {
    fn update(&self, name: &str, f: impl FnOnce(&mut WorkerHealth)) {
        // A poisoned lock only means another thread panicked mid-update; the
        // map itself is still a valid map.
        let mut map = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let w = map.entry(name.to_string()).or_insert_with(|| WorkerHealth {
            name: name.to_string(),
            state: WorkerState::Stopped,
            restarts: 0,
        });
        f(w);
    }

    pub fn running(&self, name: &str) {
        self.update(name, |w| w.state = WorkerState::Running);
    }

    pub fn restarting(&self, name: &str, reason: &str) {
        self.update(name, |w| {
            w.state = WorkerState::Restarting {
                reason: reason.to_string(),
            };
            w.restarts += 1;
        });
    }

    pub fn stopped(&self, name: &str) {
        self.update(name, |w| w.state = WorkerState::Stopped);
    }

    /// A worker that is gone for good (a mailbox removed while running).
    pub fn remove(&self, name: &str) {
        let mut map = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(name);
    }

    /// Every worker, by name.
    pub fn snapshot(&self) -> Vec<WorkerHealth> {
        let map = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Whether every worker is running.
    pub fn all_running(&self) -> bool {
        self.snapshot()
            .iter()
            .all(|w| w.state == WorkerState::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_is_counted_and_its_reason_kept() {
        let h = Health::default();
        h.running("outbox");
        assert!(h.all_running());
        h.restarting("outbox", "panicked: boom");
        h.running("outbox");
        h.restarting("outbox", "database gone");
        let w = &h.snapshot()[0];
        assert_eq!(w.restarts, 2);
        assert_eq!(
            w.state,
            WorkerState::Restarting {
                reason: "database gone".into()
            }
        );
        assert!(!h.all_running());
    }
}
