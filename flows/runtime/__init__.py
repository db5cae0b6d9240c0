"""Runtime every agent shares: the per-event guard, dead letters and settings."""
