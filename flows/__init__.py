"""Stream processing: the faust App, one module per business flow, the runtime and the CLI."""
