//! Benchmarks of parse throughput and solve times (see docs/benchmarks.md).
fn main() {}
