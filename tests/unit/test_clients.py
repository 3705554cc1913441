from __future__ import annotations

from typing import Any

from mesh.clients import Clients


class Source:
    """A channel source whose channel is swapped, as when the endpoint set changes."""

    def __init__(self) -> None:
        self.current: Any = object()

    def channel(self, service: str) -> Any:
        return self.current


def test_a_stub_is_made_once_per_channel_and_again_after_a_swap() -> None:
    source = Source()
    clients = Clients(source)
    made: list[Any] = []

    def factory(channel: Any) -> tuple[str, Any]:
        made.append(channel)
        return ("stub", channel)

    first = clients.stub("inventory", factory)
    assert clients.stub("inventory", factory) is first
    source.current = object()
    second = clients.stub("inventory", factory)
    assert second is not first
    assert second[1] is source.current
    assert len(made) == 2
