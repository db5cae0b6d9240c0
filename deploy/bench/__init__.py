"""`bizbus bench`: the runtime's speed, every figure beside a raw baseline from the same run.

Figures (DESIGN §5 targets in brackets): C0 raw aiokafka consume → produce pipe; P1 a pure
stage in a real worker [≥ 50 % of C0, ≥ 20,000 events/s]; H0 raw httpx against the sandbox ERP
with added latency; P2 the ERP sink stage in a worker [≥ 70 % of H0], per-key order checked in
the ERP; P3 per-hop latency at half of P1's rate [p99 < 50 ms]; P4 a backlog's catch-up rate and
SIGKILL → resumed seconds [< 10 s]. Nothing is mocked: real broker, sandbox, worker processes.
"""

from bizbus.deploy.bench.run import BenchOptions, run_bench

__all__ = ["BenchOptions", "run_bench"]
