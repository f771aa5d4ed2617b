//! The `envv` command line.
