"""Silver: Segment-compatible flattened tables built from bronze's tables (not yet built, issue 3)."""
