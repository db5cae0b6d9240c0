"""`python -m flows ...` runs the same CLI as `bizbus ...`."""

from flows.cli import main

main()
