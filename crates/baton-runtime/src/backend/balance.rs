//! Load-balancing algorithms (placeholder; being written).
