"""The committed Pub/Sub API modules are exactly what protoc makes of the committed proto."""

from pathlib import Path

from tests.protostubs import FOLDER, generate


def test_committed_stubs_match_a_fresh_regeneration(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    for name, content in fresh.items():
        committed = (FOLDER / name).read_bytes()
        assert committed == content, f"{name} is stale: run `make protos` and commit the result"


def test_generated_stubs_speak_the_eventbus_v1_service() -> None:
    from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2 as pb
    from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2_grpc as rpc

    assert pb.DESCRIPTOR.package == "eventbus.v1"
    service = pb.DESCRIPTOR.services_by_name["PubSub"]
    assert sorted(service.methods_by_name) == ["GetSchema", "GetTopic", "Subscribe"]
    request = pb.FetchRequest(topic_name="/data/ChangeEvents", replay_preset=pb.CUSTOM,
                              replay_id=b"\x00\x01", num_requested=5)  # fmt: skip
    assert pb.FetchRequest.FromString(request.SerializeToString()) == request
    assert hasattr(rpc, "PubSubStub") and hasattr(rpc, "add_PubSubServicer_to_server")
