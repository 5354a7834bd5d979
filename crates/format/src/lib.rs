//! berth-format
