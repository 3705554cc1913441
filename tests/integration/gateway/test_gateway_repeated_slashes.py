"""A doubled slash matches no route: the gateway does not normalise paths.

API Gateway decides which route (and so whether its authorizer runs) on the
path as sent, and forwards it unchanged. If the gateway collapsed ``//`` and
API Gateway did not, the two could pick different routes for one request;
answering 404 keeps them agreeing. The deploy outputs carry no trailing
slash, so the documented ``"$API/v1/..."`` never produces one.
"""

from __future__ import annotations

import httpx


async def test_a_doubled_slash_is_404_not_another_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/things/abc")).status_code == 200
    for path in ("//v1/things/abc", "/v1//things/abc", "/v1/things//abc"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == 5  # NOT_FOUND, as a JSON Status
