"""Stream processing: one package per business flow, their shared helpers, and the runtime."""
