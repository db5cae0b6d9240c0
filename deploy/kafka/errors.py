"""The one error the Kafka runtime raises: its message says what failed and what to do."""


class KafkaRuntimeError(RuntimeError):
    """The local broker could not be prepared, started or stopped."""
