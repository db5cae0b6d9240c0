"""Generate the Pub/Sub API's Python modules from connectors/salesforce/pubsub/pubsub_api.proto.

`make protos` (or `python -m tests.protostubs`) rewrites them in place; the unit test
tests/unit/test_pubsub_stubs.py regenerates into a temporary folder and compares, so the
committed modules never drift from the proto. The proto is mapped to its installed package
path, so the generated grpc module imports `bizbus.connectors.salesforce.pubsub.pubsub_api_pb2`.
"""

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "connectors" / "salesforce" / "pubsub"
PACKAGE_PATH = "bizbus/connectors/salesforce/pubsub"
PROTO = "pubsub_api.proto"
GENERATED = ("pubsub_api_pb2.py", "pubsub_api_pb2.pyi", "pubsub_api_pb2_grpc.py")


def generate(out_dir: Path) -> dict[str, bytes]:
    """Run protoc into `out_dir` and return the generated files by name."""
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PACKAGE_PATH}={FOLDER}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"{PACKAGE_PATH}/{PROTO}",
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    made = out_dir / PACKAGE_PATH
    return {name: (made / name).read_bytes() for name in GENERATED}


def main() -> None:
    """Regenerate the committed modules in place."""
    scratch = ROOT / ".cache" / "protos"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for name, content in generate(scratch).items():
        (FOLDER / name).write_bytes(content)
    shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.write(f"regenerated {', '.join(GENERATED)} in {FOLDER}\n")


if __name__ == "__main__":
    main()
