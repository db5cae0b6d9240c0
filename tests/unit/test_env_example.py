"""deploy/.env.example lists every setting the code reads (it is generated; this catches drift)."""

from pathlib import Path

from bizbus.deploy.envfile import render

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / ".env.example"


def test_env_example_matches_the_settings_classes() -> None:
    assert ENV_EXAMPLE.read_text() == render(), (
        "deploy/.env.example is stale: run `python -m bizbus.deploy.envfile > deploy/.env.example`"
    )


def test_secrets_have_no_values_in_the_example() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("BIZBUS_") and any(
            w in line for w in ("SECRET=", "API_KEY=", "PASSWORD=")
        ):
            assert line.endswith("="), line
