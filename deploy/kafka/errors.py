"""The one error the Kafka runtime raises: its message says what failed and what to do."""


class KafkaRuntimeError(RuntimeError):
    """The local broker could not be prepared, started or stopped."""


class KafkaPortTakenError(KafkaRuntimeError):
    """A node could not bind its port: another process holds it."""
