//! End-to-end load tool (being written).

fn main() {}
