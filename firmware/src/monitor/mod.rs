//! The corridor monitor: deciding on the device, without the network, that a transit is
//! going wrong.
//!
//! - [`geo`]: local-plane distances on the WGS 84 ellipsoid.
//! - [`corridor`]: route polylines with a half-width, a box-tree index and a hint, for a
//!   per-fix "how far from the route, how far along it" query.
//! - [`zone`]: circles and polygons (origin, destination, border posts, customs yards,
//!   rest stops), each with its own dwell limit.
//! - [`trip`]: a trip armed by an officer and the detectors that watch it.
//!
//! Everything is a state machine that takes time as an argument and does no I/O; nothing
//! allocates. Geometry lives in caller-provided buffers (the gateway owns them), so one
//! corridor serves any number of trips.

pub mod corridor;
pub mod geo;
pub mod trip;
pub mod zone;

pub use corridor::{Corridor, CorridorError, Match};
pub use trip::{Geography, MonitorConfig, TripError, TripMonitor, TripPlan};
pub use zone::{Shape, Zone, ZoneError};
