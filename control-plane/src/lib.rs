//! The envv control plane.
