//! The reference dataplane.
