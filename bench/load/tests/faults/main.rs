//! Faults under load, on real processes: the database restarted, a replica
//! killed, the disk full. Each test is bounded (well under a minute): the
//! load runs for seconds, and every wait has a deadline.

mod common;

mod disk_full;
mod postgres_restart;
mod replica_kill;
