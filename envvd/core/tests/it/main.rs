//! The core's integration tests, one binary (each test binary links the
//! whole dependency graph again): a module per area, keyrings and names for
//! the format in `common`.

mod common;

mod chain;
mod chain_vectors;
mod crash;
mod dotenv;
mod edit;
mod fuzz_bodies;
mod limits;
mod roundtrip;
mod tamper;
mod vectors;
