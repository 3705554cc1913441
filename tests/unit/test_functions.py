"""The workflow's functions apart from the services: events, faults, errors, the local worker."""

from __future__ import annotations

import json

import pytest

from functions import errors, mark_order
from functions.handler import field, inject_fault, parse_faults
from functions.local import invoke, load_steps
from functions.runtime import LOCAL_WORKER, FunctionRuntime, FunctionSettings
from mesh.errors import FailedPrecondition, MeshError, NotFound, Unavailable
from mesh.topology import load_topology
from services.orders.lifecycle import WORKFLOW_MOVES, order_closed
from services.orders.store import CANCELLED, EXPIRED, FAILED, PAID, PENDING, OrderRecord

ORDER = "orders/" + "a" * 32


def test_parse_faults() -> None:
    assert parse_faults(None) == {} and parse_faults("") == {}
    assert parse_faults("commit_stock=2, mark_order=1") == {"commit_stock": 2, "mark_order": 1}


@pytest.mark.parametrize(
    "value", ["commit_stock", "commit_stock=-1", "commit_stock=1000", "Commit=1", "a=1;b=2", "=1"]
)
def test_parse_faults_refuses_garbage(value: str) -> None:
    with pytest.raises(ValueError, match="MESH_WORKFLOW_FAULTS"):
        parse_faults(value)


def test_a_fault_fails_the_first_attempts_of_each_order_only() -> None:
    env = {"MESH_WORKFLOW_FAULTS": "commit_stock=2"}
    for _ in range(2):
        with pytest.raises(errors.ServiceUnavailable, match="drill"):
            inject_fault("commit_stock", "orders/x", env)
    inject_fault("commit_stock", "orders/x", env)  # the third attempt goes through
    with pytest.raises(errors.ServiceUnavailable):
        inject_fault("commit_stock", "orders/y", env)  # another order counts anew
    inject_fault("mark_order", "orders/x", env)  # another function is not touched
    inject_fault("commit_stock", "orders/z", {})  # no drill, no fault


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ({}, "order"),
        ({"order": 7}, "order"),
        ({"order": "orders/../../etc"}, "order"),
        ({"order": ORDER + "\n"}, "order"),
        ({"order": "orders/" + "A" * 32}, "order"),
        ({"reservation": "reservations/" + "r" * 200}, "reservation"),
        ({"reservation": "reservations/a b"}, "reservation"),
        ({"task_token": ""}, "task_token"),
        ({"task_token": "t" * 9000}, "task_token"),
        ({"task_token": ["t"]}, "task_token"),
    ],
)
def test_event_fields_are_checked(event: dict[str, object], name: str) -> None:
    with pytest.raises(errors.BadEvent, match=name):
        field(event, name)


def test_event_fields_that_are_fine() -> None:
    assert field({"order": ORDER}, "order") == ORDER
    assert field({"reservation": "reservations/ord-1"}, "reservation") == "reservations/ord-1"
    assert field({"task_token": "AAAA"}, "task_token") == "AAAA"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (Unavailable("down"), errors.ServiceUnavailable),
        (FailedPrecondition("closed", reason="ORDER_CLOSED"), errors.OrderClosed),
        (FailedPrecondition("conflict", reason="ORDER_STATE_CONFLICT"), errors.StepRejected),
        (NotFound("gone"), errors.StepRejected),
    ],
)
def test_service_errors_become_the_workflows(error: MeshError, kind: type[Exception]) -> None:
    converted = errors.from_mesh_error(error)
    assert type(converted) is kind
    assert error.code.name in str(converted)


def test_the_lambda_entry_refuses_an_event_that_is_not_an_object() -> None:
    from functions.commit_stock import handler as commit

    with pytest.raises(errors.BadEvent):
        commit(["not", "an", "object"], None)  # type: ignore[arg-type]


def test_every_declared_function_has_a_step_and_a_handler() -> None:
    steps = load_steps()
    assert set(steps) == set(load_topology().functions)


@pytest.fixture
async def runtime() -> FunctionRuntime:
    settings = FunctionSettings.from_env(
        LOCAL_WORKER,
        {"MESH_REGISTRY": "static", "MESH_STATIC_ENDPOINTS": "orders=127.0.0.1:1"},
    )
    return FunctionRuntime(settings)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "BadEvent"),
        ("[1, 2]", "BadEvent"),
        ('{"id": "seven", "function": "mark_order", "payload": {}}', "BadEvent"),
        ('{"id": 1, "function": "os.system", "payload": {}}', "ResourceNotFoundException"),
        ('{"id": 1, "function": "../handler", "payload": {}}', "ResourceNotFoundException"),
        ('{"id": 1, "function": "mark_order", "payload": "x"}', "BadEvent"),
        ('{"id": 1, "function": "mark_order", "payload": {"order": "x"}}', "BadEvent"),
        (
            json.dumps({"id": 1, "function": "mark_order", "payload": {"order": ORDER}}),
            "BadEvent",  # no status
        ),
    ],
)
async def test_the_local_worker_answers_hostile_invocations(
    runtime: FunctionRuntime, line: str, error: str
) -> None:
    reply = await invoke(load_steps(), runtime, line)
    assert reply["errorType"] == error, reply
    assert "result" not in reply
    await runtime.close()


@pytest.mark.parametrize("status", [EXPIRED, CANCELLED, FAILED, PAID, PENDING])
def test_every_closed_order_error_of_orders_is_order_closed_to_the_workflow(status: str) -> None:
    # An order that expired or was cancelled while a step ran must take the
    # definition's OrderClosed catch, not the compensation for a failed step.
    record = OrderRecord("o1", "alice", "r1", "f", status, "res1", "EUR", 100, ())
    error = order_closed(record)
    assert isinstance(errors.from_mesh_error(error), errors.OrderClosed), error.reason


def test_a_function_has_channels_only_to_what_it_depends_on() -> None:
    # A Lambda reaches only its depends_on (its security group); channels to
    # anything else would wait at start for services it can never see.
    topology = load_topology()
    static = {"MESH_REGISTRY": "static", "MESH_STATIC_ENDPOINTS": "orders=127.0.0.1:1"}
    for name, spec in topology.functions.items():
        runtime = FunctionRuntime(FunctionSettings.from_env(name, static), topology)
        assert set(runtime.channels.services) == set(spec.depends_on), name
    with pytest.raises(ValueError, match="not a function"):
        FunctionRuntime(FunctionSettings.from_env("ghost", static), topology)


def test_mark_order_takes_exactly_the_moves_orders_accepts_from_the_workflow() -> None:
    # Functions import no service, so the list is written in both: held together here.
    assert set(mark_order.STATUSES) == set(WORKFLOW_MOVES)
