"""The pieces of scripts/bench orders that need no mesh: its arguments, its
databases' names, and how it reads py-spy's stacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks.orders import database_urls, drop_databases, main, top_functions


@pytest.mark.parametrize(
    "argv",
    [
        ["--rounds", "0"],
        ["--rounds", "21"],
        ["--duration", "0.1"],
        ["--duration", "1e9"],
        ["--warm-up", "-1"],
        ["--concurrency", "0"],
        ["--concurrency", "100000"],
        ["--rounds", "two"],
        ["--postgres", "sqlite+aiosqlite:///bench.db"],
        ["--postgres", "not a url"],
        ["--unknown"],
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "starting the mesh" not in capsys.readouterr().out


def test_each_run_gets_databases_of_its_own_on_the_given_server() -> None:
    urls = database_urls("postgresql+asyncpg://postgres@127.0.0.1:5432/test", "0123abcd")
    assert urls == {
        name: f"postgresql+asyncpg://postgres@127.0.0.1:5432/bench_orders_0123abcd_{name}"
        for name in ("catalog", "inventory", "orders")
    }


@pytest.mark.parametrize(
    "name", ["test", "postgres", "bench_orders_x_orders", 'bench_orders_0123abcd_a"; DROP']
)
def test_only_its_own_databases_are_ever_dropped(name: str) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:1/{name}"
    with pytest.raises(ValueError, match="not a benchmark database"):
        asyncio.run(drop_databases({"orders": url}))


def test_the_profile_summary_counts_own_samples_and_skips_idle_threads(tmp_path: Path) -> None:
    collapsed = tmp_path / "orders.txt"
    collapsed.write_text(
        "main (a.py:1);serve (b.py:2);execute (asyncpg/x.py:3) 6\n"
        "main (a.py:1);serve (b.py:2);dumps (json.py:4) 3\n"
        "Thread._bootstrap (threading.py:1);Thread.run (threading.py:982) 50\n"
        "main (a.py:1);select (selectors.py:468) 40\n"
        "garbage line without a count\n"
        "main (a.py:1);Runner.run (asyncio/runners.py:118) 1\n"
    )
    top = top_functions(collapsed, n=2)
    assert top == [("execute (asyncpg/x.py:3)", 0.6), ("dumps (json.py:4)", 0.3)]
    assert top_functions(tmp_path / "orders.txt", n=5)[-1] == (
        "Runner.run (asyncio/runners.py:118)",
        0.1,
    )
    empty = tmp_path / "idle.txt"
    empty.write_text("Thread.run (threading.py:982) 5\n")
    assert top_functions(empty) == []
