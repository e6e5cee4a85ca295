//! ECTS Edge operator and test tools (placeholder until the tools land).
fn main() {}
