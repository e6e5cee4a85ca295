//! `ects-tools`: operator and test tools for ECTS Edge.
//!
//! - [`verify`]: the payload verifier that central integrators and the test suite use to
//!   check published events against the payload schema (`docs/schema/event.v1.json`,
//!   embedded here so the tool works anywhere).
//! - [`sim`]: device simulators (a truck's GPS receiver and e-lock along a corridor) for
//!   hardware-in-loop tests, the scenario tests and the demo.

pub mod sim;
pub mod verify;
