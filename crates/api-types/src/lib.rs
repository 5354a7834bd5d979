//! berth-api-types
