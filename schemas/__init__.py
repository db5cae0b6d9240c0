"""Event contracts: the CloudEvents envelope, business payloads and the topic catalog."""
