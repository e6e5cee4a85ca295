//! Storage health for the uplink's status payload, so that a failing SD card shows at
//! central (`storage` in the retained status) and not only in the unit's log.
//!
//! The journal tracks its own (`Stats::io_failing`); this holds the trip-state saver's:
//! whether the latest save of the trips' state failed (set by the saver thread, cleared by
//! the next save that succeeds). Process-wide: one gateway runs per process.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the latest trip-state save failed.
#[derive(Debug)]
pub struct StorageHealth {
    trips_failing: AtomicBool,
}

/// The gateway's storage health.
pub static STORAGE: StorageHealth = StorageHealth::new();

impl StorageHealth {
    /// All well.
    pub const fn new() -> Self {
        StorageHealth {
            trips_failing: AtomicBool::new(false),
        }
    }

    /// Records the outcome of a trip-state save.
    pub fn trips_saved(&self, ok: bool) {
        self.trips_failing.store(!ok, Ordering::Relaxed);
    }

    /// `{"journal": "ok"|"failing", "trips": "ok"|"failing"}` for the status payload,
    /// given the journal's own state.
    pub fn to_json(&self, journal_failing: bool) -> serde_json::Value {
        let word = |failing: bool| if failing { "failing" } else { "ok" };
        serde_json::json!({
            "journal": word(journal_failing),
            "trips": word(self.trips_failing.load(Ordering::Relaxed)),
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
    fn test_the_latest_save_and_the_journal_state_are_reported() {
        let h = StorageHealth::new();
        let json = |journal, trips| serde_json::json!({"journal": journal, "trips": trips});
        assert_eq!(h.to_json(false), json("ok", "ok"));
        h.trips_saved(false);
        assert_eq!(h.to_json(false), json("ok", "failing"));
        h.trips_saved(true);
        assert_eq!(h.to_json(true), json("failing", "ok"));
    }
}
