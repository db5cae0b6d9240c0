"""`bizbus deploy render k8s`: Kubernetes manifests from the topic catalog, ACL plan, settings."""

from pathlib import Path
from typing import Annotated

import typer
import yaml

from bizbus.deploy.access import DEFAULT_OPERATOR, DEFAULT_WORKER, AclPrincipals
from bizbus.deploy.k8s.manifests import K8sOptions, render
from bizbus.flows.settings import RuntimeSettings

app = typer.Typer(help="Deployment artefacts rendered from the code (catalog, flows, settings).")
render_app = typer.Typer(help="Render manifests.")
app.add_typer(render_app, name="render")


class _PlainDumper(yaml.SafeDumper):
    """Writes a value used twice out twice: anchors and aliases confuse readers of manifests."""

    def ignore_aliases(self, data: object) -> bool:
        return True


@render_app.command("k8s")
def k8s(
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    namespace: Annotated[str, typer.Option(help="Namespace of everything.")] = "bizbus",
    cluster: Annotated[str, typer.Option(help="Strimzi Kafka cluster name.")] = "bizbus",
    kafka_replicas: Annotated[int, typer.Option(help="Kafka nodes (KRaft, dual role).")] = 3,
    workers: Annotated[int, typer.Option(help="Worker pods (one consumer group).")] = 3,
    image: Annotated[str, typer.Option(help="The worker image (deploy/Dockerfile).")] = (
        K8sOptions.image
    ),
    worker_user: Annotated[str, typer.Option(help="The workers' KafkaUser.")] = DEFAULT_WORKER,
    operator_user: Annotated[str, typer.Option(help="The operators' KafkaUser.")] = (
        DEFAULT_OPERATOR
    ),
) -> None:
    """Strimzi Kafka, node pool, KafkaTopics, KafkaUsers, and the worker's StatefulSet & co."""
    options = K8sOptions(
        namespace=namespace,
        cluster=cluster,
        kafka_replicas=kafka_replicas,
        workers=workers,
        image=image,
        principals=AclPrincipals(worker_user, operator_user or None),
    )
    text = yaml.dump_all(render(RuntimeSettings(), options), Dumper=_PlainDumper, sort_keys=False)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)
