//! HTTP API types.
