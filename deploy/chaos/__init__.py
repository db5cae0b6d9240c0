"""`bizbus chaos`: reliability and security scenarios whose figures are counted, not claimed.

One module per scenario (worker_kill R1, broker_kill R2, outages R3, rebalance R4, poison R5,
webhooks S1, leaks S3), a verifier that counts from the sandboxes' own records and from
Kafka, and the stack they share.
"""
