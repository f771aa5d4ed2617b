//! The `envv` command's integration tests, one binary (each test binary
//! links the whole dependency graph again): a module per area, the shared
//! sandbox in `common`.

mod common;

mod account;
mod agent;
mod demo;
mod exec;
mod exposure;
mod first_steps;
mod next_step;
mod secrecy;
mod team_chain;
mod ui;
