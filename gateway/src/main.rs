//! `xhuma-gateway` binary (being built).
fn main() {}
