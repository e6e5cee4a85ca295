//! Storage health, shared by the parts of the gateway that write to the SD card and the
//! uplink's status payload, so that a failing card shows at central (`storage` in the
//! retained status) and not only in the unit's log.
//!
//! Invariant: each flag says whether the latest attempt of its kind failed — a journal
//! commit (`journal`), a save of the trips' state (`trips`). Process-wide: one gateway
//! runs per process.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the latest journal commit and trip-state save failed.
#[derive(Debug)]
pub struct StorageHealth {
    journal_failing: AtomicBool,
    trips_failing: AtomicBool,
}

/// The gateway's storage health.
pub static STORAGE: StorageHealth = StorageHealth::new();

impl StorageHealth {
    /// All well.
    pub const fn new() -> Self {
        StorageHealth {
            journal_failing: AtomicBool::new(false),
            trips_failing: AtomicBool::new(false),
        }
    }

    /// Records the outcome of a journal commit.
    pub fn journal_committed(&self, ok: bool) {
        self.journal_failing.store(!ok, Ordering::Relaxed);
    }

    /// Records the outcome of a trip-state save.
    pub fn trips_saved(&self, ok: bool) {
        self.trips_failing.store(!ok, Ordering::Relaxed);
    }

    /// `{"journal": "ok"|"failing", "trips": "ok"|"failing"}` for the status payload.
    pub fn to_json(&self) -> serde_json::Value {
        let word = |failing: &AtomicBool| {
            if failing.load(Ordering::Relaxed) {
                "failing"
            } else {
                "ok"
            }
        };
        serde_json::json!({
            "journal": word(&self.journal_failing),
            "trips": word(&self.trips_failing),
        })
    }
}

impl Default for StorageHealth {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_latest_outcome_of_each_kind_is_reported() {
        let h = StorageHealth::new();
        assert_eq!(
            h.to_json(),
            serde_json::json!({"journal": "ok", "trips": "ok"})
        );
        h.trips_saved(false);
        assert_eq!(h.to_json()["trips"], "failing");
        assert_eq!(h.to_json()["journal"], "ok");
        h.journal_committed(false);
        h.trips_saved(true);
        assert_eq!(
            h.to_json(),
            serde_json::json!({"journal": "failing", "trips": "ok"})
        );
    }
}
