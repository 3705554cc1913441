"""Instance -> Endpoint conversion: bad registry data is skipped with a log line, never raised."""

from __future__ import annotations

import logging

import pytest

from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    Endpoint,
    HealthStatus,
    Instance,
    to_endpoint,
    to_endpoints,
)


def test_good_instance_becomes_an_endpoint() -> None:
    attrs = {AWS_INSTANCE_IPV4: "10.0.3.7", AWS_INSTANCE_PORT: "50051", "zone": "a"}
    endpoint = to_endpoint(Instance("i-1", attrs, HealthStatus.HEALTHY))
    assert endpoint == Endpoint("10.0.3.7", 50051, "i-1", {"zone": "a"})
    assert endpoint is not None
    assert endpoint.address == "10.0.3.7:50051"


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ({AWS_INSTANCE_PORT: "1"}, "missing AWS_INSTANCE_IPV4"),
        ({AWS_INSTANCE_IPV4: "10.0.0.300", AWS_INSTANCE_PORT: "1"}, "invalid"),
        ({AWS_INSTANCE_IPV4: "fe80::1", AWS_INSTANCE_PORT: "1"}, "invalid"),
        ({AWS_INSTANCE_IPV4: "", AWS_INSTANCE_PORT: "1"}, "invalid"),
        ({AWS_INSTANCE_IPV4: "10.0.0.1"}, "missing AWS_INSTANCE_PORT"),
        ({AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "http"}, "non-numeric"),
        ({AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "-1"}, "non-numeric"),
        ({AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: " 80"}, "non-numeric"),
        ({AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "0"}, "out of range"),
        ({AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "65536"}, "out of range"),
    ],
)
def test_bad_data_is_skipped_with_a_structured_warning(
    attrs: dict[str, str], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mesh.discovery"):
        assert to_endpoint(Instance("i-bad", attrs), service="catalog") is None
    [record] = caplog.records
    assert record.__dict__["service"] == "catalog"
    assert record.__dict__["instance_id"] == "i-bad"
    assert reason in record.__dict__["reason"]


def test_endpoints_are_sorted_and_deduplicated() -> None:
    def inst(instance_id: str, port: int) -> Instance:
        return Instance(instance_id, {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(port)})

    found = to_endpoints([inst("b", 2), inst("a", 1), inst("b", 2)])
    assert [e.instance_id for e in found] == ["a", "b"]


def test_values_are_immutable_and_hashable() -> None:
    attrs = {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "1"}
    instance = Instance("i", attrs)
    attrs["late"] = "change"
    assert "late" not in instance.attributes
    endpoint = to_endpoint(instance)
    assert endpoint is not None
    assert len({endpoint, Endpoint("127.0.0.1", 1, "i")}) == 1
    with pytest.raises(TypeError):
        endpoint.attributes["x"] = "y"  # type: ignore[index]


def test_unknown_health_values_parse_as_unknown() -> None:
    assert HealthStatus.parse("HEALTHY") is HealthStatus.HEALTHY
    assert HealthStatus.parse("DRAINING") is HealthStatus.UNKNOWN
    assert HealthStatus.parse(None) is HealthStatus.UNKNOWN
