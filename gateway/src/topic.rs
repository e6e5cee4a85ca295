//! The MQTT topic layout, version 1. `docs/mqtt.md` is the reference; this module is the
//! only place topics are spelled.
//!
//! ```text
//! ects/v1/{gateway}/events/{critical|warning|info}   gateway → central, QoS 1
//! ects/v1/{gateway}/status                           gateway → central, QoS 1, retained, Last Will
//! ects/v1/{gateway}/cmd/{command}                    central → gateway, QoS 1
//! ects/v1/{gateway}/result                           gateway → central, QoS 1
//! ```
//!
//! Invariants: the root is versioned (`v1`) so a v2 can run beside it during a migration;
//! the gateway id comes first, so one ACL line (`pattern readwrite ects/v1/%c/#` in
//! mosquitto) confines each gateway to its own subtree; a gateway id is an
//! [`ects_firmware::text::Ident`], so it can never contain `/`, `+` or `#`.

use ects_firmware::event::{GatewayId, Severity};

/// The version segment of every topic.
pub const ROOT: &str = "ects/v1";

/// The topics of one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// The topics of gateway `id`.
    pub fn new(id: &GatewayId) -> Self {
        Topics {
            base: format!("{ROOT}/{id}"),
        }
    }

    /// Where events of `severity` are published.
    pub fn events(&self, severity: Severity) -> String {
        format!("{}/events/{}", self.base, severity.as_str())
    }

    /// The retained status topic (birth, health, Last Will).
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    /// The filter the gateway subscribes to for commands.
    pub fn commands_filter(&self) -> String {
        format!("{}/cmd/+", self.base)
    }

    /// Where the results of commands are published.
    pub fn result(&self) -> String {
        format!("{}/result", self.base)
    }

    /// The command name of a topic received on [`Topics::commands_filter`], if it is one of
    /// this gateway's command topics.
    pub fn command_name<'a>(&self, topic: &'a str) -> Option<&'a str> {
        let rest = topic
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/cmd/")?;
        (!rest.is_empty() && !rest.contains('/')).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_layout() {
        let t = Topics::new(&"ke-malaba-01".parse().unwrap());
        assert_eq!(
            t.events(Severity::Critical),
            "ects/v1/ke-malaba-01/events/critical"
        );
        assert_eq!(t.status(), "ects/v1/ke-malaba-01/status");
        assert_eq!(t.commands_filter(), "ects/v1/ke-malaba-01/cmd/+");
        assert_eq!(t.result(), "ects/v1/ke-malaba-01/result");
        assert_eq!(
            t.command_name("ects/v1/ke-malaba-01/cmd/trip.arm"),
            Some("trip.arm")
        );
        assert_eq!(t.command_name("ects/v1/ke-malaba-011/cmd/trip.arm"), None);
        assert_eq!(t.command_name("ects/v1/ke-malaba-01/cmd/"), None);
        assert_eq!(t.command_name("ects/v1/ke-malaba-01/cmd/a/b"), None);
    }
}
