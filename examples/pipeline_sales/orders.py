from collections.abc import Callable
from typing import Any


def register(task: Callable[..., Any]) -> None:
    @task(name="extract_orders")
    def extract_orders() -> list[dict[str, int]]:
        return [{"id": 1, "amount": 10}]

    # An edge that crosses modules: an explicit string dependency.
    @task(name="orders_per_user", deps=["extract_users", "extract_orders"])
    def orders_per_user(upstream: dict[str, list[Any]]) -> float:
        return len(upstream["extract_orders"]) / len(upstream["extract_users"])
