//! `ects-gateway`: the ECTS Edge service and field CLI.

fn main() {}
