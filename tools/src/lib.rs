//! `ects-tools`: operator and test tools for ECTS Edge.
//!
//! Today: [`verify`], the payload verifier that central integrators and the test suite use to
//! check published events against the payload schema (`docs/schema/event.v1.json`, embedded
//! here so the tool works anywhere). Simulators and the scenario runner join it as they are
//! built.

pub mod verify;
