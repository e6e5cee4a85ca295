//! Checks event payloads against the v1 JSON Schema, one JSON object a line.
//!
//! Format assertions (`date-time`) are enforced, not just annotated, and every schema error
//! is reported with the JSON pointer of the offending value, so a failing line says exactly
//! which field is wrong.

use std::io::BufRead;

use anyhow::Context;

/// The payload schema, version 1, as shipped in `docs/schema/event.v1.json`.
pub const EVENT_SCHEMA_V1: &str = include_str!("../../docs/schema/event.v1.json");

/// A compiled payload schema.
#[derive(Debug)]
pub struct EventValidator {
    validator: jsonschema::Validator,
}

impl EventValidator {
    /// The validator for [`EVENT_SCHEMA_V1`].
    ///
    /// # Errors
    /// If the embedded schema does not compile (a build defect the tests catch).
    pub fn v1() -> anyhow::Result<Self> {
        Self::from_schema_text(EVENT_SCHEMA_V1)
    }

    /// A validator for a schema given as text (for `--schema FILE`).
    ///
    /// # Errors
    /// If the text is not JSON or not a valid JSON Schema.
    pub fn from_schema_text(text: &str) -> anyhow::Result<Self> {
        let schema: serde_json::Value = serde_json::from_str(text).context("schema is not JSON")?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| anyhow::anyhow!("schema does not compile: {e}"))?;
        Ok(EventValidator { validator })
    }

    /// Every violation of the schema by `event`, as `"<json pointer>: <message>"`; empty
    /// when it is valid.
    pub fn errors(&self, event: &serde_json::Value) -> Vec<String> {
        self.validator
            .iter_errors(event)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect()
    }
}

/// The outcome of verifying a stream of JSON lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Lines that are valid events.
    pub passed: usize,
    /// Lines that are not (bad JSON or schema violations).
    pub failed: usize,
}

/// Verifies every non-empty line of `input`, writing one diagnostic line per failure to
/// `report` (`line N: …`).
///
/// # Errors
/// Only for I/O errors on `input` or `report`; invalid events are counted, not errors.
pub fn verify_lines(
    validator: &EventValidator,
    input: impl BufRead,
    mut report: impl std::io::Write,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let errors = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(value) => validator.errors(&value),
            Err(e) => vec![format!("not JSON: {e}")],
        };
        if errors.is_empty() {
            summary.passed += 1;
        } else {
            summary.failed += 1;
            for e in errors {
                writeln!(report, "line {}: {e}", i + 1)?;
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"v":1,"id":"gw:1","type":"gps.restored","severity":"info","received_at":"2026-11-28T10:00:00Z","details":{"outage_s":3}}"#;

    #[test]
    fn test_schema_compiles_and_accepts_a_good_event() {
        let v = EventValidator::v1().unwrap();
        assert_eq!(
            v.errors(&serde_json::from_str(GOOD).unwrap()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn test_each_kind_of_violation_is_caught() {
        let v = EventValidator::v1().unwrap();
        for (bad, pointer) in [
            (GOOD.replace("gps.restored", "gps.resorted"), "/type"),
            (
                GOOD.replace(r#""outage_s":3"#, r#""outage_s":-3"#),
                "/details/outage_s",
            ),
            (GOOD.replace(r#""outage_s":3"#, r#""outage":3"#), "/details"),
            (
                GOOD.replace("2026-11-28T10:00:00Z", "2026-11-28T25:00:00Z"),
                "/received_at",
            ),
            (GOOD.replace(r#""id":"gw:1""#, r#""id":"g/w:1""#), "/id"),
            (GOOD.replace(r#""v":1"#, r#""v":2"#), "/v"),
            (GOOD.replace(r#""severity":"info","#, ""), ""),
        ] {
            let errors = v.errors(&serde_json::from_str(&bad).unwrap());
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("{pointer}: "))),
                "{bad} gave {errors:?}"
            );
        }
    }

    #[test]
    fn test_verify_lines_counts_and_reports() {
        let v = EventValidator::v1().unwrap();
        let input = format!("{GOOD}\n\nnot json\n{}\n", GOOD.replace("info", "urgent"));
        let mut report = Vec::new();
        let s = verify_lines(&v, input.as_bytes(), &mut report).unwrap();
        assert_eq!(
            s,
            Summary {
                passed: 1,
                failed: 2
            }
        );
        let report = String::from_utf8(report).unwrap();
        assert!(report.contains("line 3: not JSON"), "{report}");
        assert!(report.contains("line 4: /severity"), "{report}");
    }
}
