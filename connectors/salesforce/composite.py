"""Several SOQL queries in one Salesforce Composite request (``POST /composite``): one API call.

Salesforce counts a composite request as one call against the daily allowance; it holds up
to 25 subrequests, at most 5 of them query operations (query, queryAll, next page), so
``query_many`` sends the queries in groups of 5. Subrequests run with ``allOrNone: false``:
each query gets its own answer or its own error, and one query's failure costs no other.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from bizbus.connectors.errors import ConnectorError, TransientError
from bizbus.connectors.salesforce.client import SalesforceClient, encode_json

__all__ = ["QUERIES_PER_CALL", "query_many"]

QUERIES_PER_CALL = 5
_JSON = {"Content-Type": "application/json"}

Answer = dict[str, Any] | ConnectorError


async def query_many(client: SalesforceClient, queries: Sequence[tuple[str, bool]]) -> list[Answer]:
    """Run ``(soql, include_deleted)`` queries, 5 per Composite call; answer each in order.

    Each answer is the query's first page as ``/query`` returns it (``records``, ``done``,
    ``nextRecordsUrl``), or the error its subrequest got (classified like a direct call).

    Raises:
        ConnectorError: The composite call itself failed (every query failed with it).
    """
    answers: list[Answer] = []
    for start in range(0, len(queries), QUERIES_PER_CALL):
        answers.extend(await _one_call(client, queries[start : start + QUERIES_PER_CALL]))
    return answers


async def _one_call(client: SalesforceClient, queries: Sequence[tuple[str, bool]]) -> list[Answer]:
    subrequests = [
        {
            "method": "GET",
            "url": f"{client.prefix}/{'queryAll' if deleted else 'query'}?"
            + urlencode({"q": soql}),
            "referenceId": f"q{index}",
        }
        for index, (soql, deleted) in enumerate(queries)
    ]
    body = {"allOrNone": False, "compositeRequest": subrequests}
    # Reads only: resending after a lost answer changes nothing.
    response = await client.request("POST", f"{client.prefix}/composite",
                                    content=encode_json(body), headers=_JSON,
                                    idempotent=True)  # fmt: skip
    try:
        answers = response.json().get("compositeResponse")
    except (ValueError, AttributeError):
        answers = None
    if not isinstance(answers, list) or len(answers) != len(queries):
        raise TransientError("salesforce: composite answer of the wrong shape", system="salesforce")
    by_ref = {a.get("referenceId"): a for a in answers if isinstance(a, dict)}
    return [_answer(client, sub, by_ref.get(sub["referenceId"])) for sub in subrequests]


def _answer(client: SalesforceClient, sub: dict[str, Any], answer: Any) -> Answer:
    if not isinstance(answer, dict):
        return TransientError("salesforce: composite answer misses a query", system="salesforce")
    status = answer.get("httpStatusCode")
    body = answer.get("body")
    if isinstance(status, int) and status < 300 and isinstance(body, dict):
        return body
    # The same status → error table as a direct call, on a response rebuilt from the subanswer.
    rebuilt = httpx.Response(
        status if isinstance(status, int) else 500,
        json=body,
        request=httpx.Request("GET", client.client.base_url.join(str(sub["url"]))),
    )
    error = client.classify(rebuilt)
    return error or TransientError("salesforce: composite query failed", system="salesforce")
