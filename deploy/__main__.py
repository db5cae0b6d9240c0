"""`python -m bizbus.deploy ...` runs the same CLI as `bizbus ...`."""

from bizbus.deploy.cli import main

main()
