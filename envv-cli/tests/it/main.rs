//! The `envv` command's integration tests, one binary (each test binary
//! links the whole dependency graph again): a module per area, the shared
//! sandbox in `common`.

mod common;

mod account;
mod agent;
mod demo;
mod doctor;
mod exec;
mod exposure;
mod first_hour;
mod first_steps;
mod next_step;
mod rekey;
mod secrecy;
mod signed_files;
mod team_chain;
mod teams;
mod ui;
