"""`python -m bizbus.deploy.sandbox serve NAME --port P --db FILE [--grpc-port G]`: one sandbox."""

import argparse
import logging

import uvicorn

from bizbus.deploy.sandbox.app import SandboxConfig
from bizbus.deploy.sandbox.registry import SYSTEMS

KEEP_ALIVE_S = 75


def main() -> None:
    """Parse arguments and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m deploy.sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run one sandbox server")
    serve.add_argument("name", choices=sorted(SYSTEMS))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--db", default=":memory:")
    serve.add_argument("--manual-clock", action="store_true")
    serve.add_argument("--grpc-port", type=int, default=None, help="the CRM's Pub/Sub API port")
    serve.add_argument(
        "--no-seed", action="store_true", help="serve the database as it is (a restart)"
    )
    args = parser.parse_args()
    spec = SYSTEMS[args.name]
    config = SandboxConfig(
        db_path=args.db, manual_clock=args.manual_clock, grpc_port=args.grpc_port,
        seed=not args.no_seed,
    )  # fmt: skip
    app = spec.factory()(config)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.name} %(message)s")
    uvicorn.run(
        app, host=args.host, port=args.port or spec.default_port,
        log_level="info", access_log=True,
        # Longer than httpx's 5 s keep-alive expiry, so the client always drops an idle pooled
        # connection first: with equal timeouts a request racing the server's close failed
        # with "Server disconnected without sending a response" (as the real services'
        # longer keep-alive never does).
        timeout_keep_alive=KEEP_ALIVE_S,
    )  # fmt: skip


if __name__ == "__main__":
    main()
