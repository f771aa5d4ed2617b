//! The agent's integration tests, one binary (each test binary links the
//! whole dependency graph again): a module per area, the shared harness in
//! `world` (the real `envvd` and control plane, started per test).

mod world;

mod account;
mod agent;
mod audit;
mod hostile;
mod outage;
mod team;
mod tls;
