//! berth-layer
