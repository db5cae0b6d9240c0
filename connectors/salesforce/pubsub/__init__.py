"""Salesforce Pub/Sub API (gRPC, package ``eventbus.v1``): the proto and its generated modules.

``pubsub_api.proto`` is written from Salesforce's public reference; the ``pubsub_api_pb2*``
modules beside it are protoc's output, committed so installing bizbus needs no compiler, and
checked against a fresh regeneration by ``tests/unit/test_pubsub_stubs.py`` (``make protos``).
"""
