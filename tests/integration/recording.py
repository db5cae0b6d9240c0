"""A real-socket httpx transport that records each exchange, for counting calls in fault tests."""

import httpx


class RecordingTransport(httpx.AsyncBaseTransport):
    """Sends over real sockets and notes each exchange's method, path and status."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.calls.append((request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def under(self, prefix: str) -> list[tuple[str, int]]:
        """Return (method, status) of the calls whose path starts with `prefix`."""
        return [(method, status) for method, path, status in self.calls if path.startswith(prefix)]

    def count(self, path: str) -> int:
        """Return how many calls went to exactly `path`."""
        return sum(1 for _, called, _ in self.calls if called == path)
