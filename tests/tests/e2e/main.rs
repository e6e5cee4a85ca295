//! End-to-end tests: one integration binary, one module per area.

// Every event type, serialized as JSON and as CBOR, against the payload schema.
mod schema;
