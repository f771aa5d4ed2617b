//! The agent's integration tests, one binary (each test binary links the
//! whole dependency graph again): a module per area, shared harnesses in
//! `common` (keyrings and names for the format) and `world` (the real
//! `envvd` and control plane, started per test).

mod common;
mod world;

mod account;
mod agent;
mod audit;
mod crash;
mod dotenv;
mod edit;
mod fuzz_bodies;
mod limits;
mod roundtrip;
mod tamper;
mod team;
mod vectors;
