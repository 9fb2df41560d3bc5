from collections.abc import Callable
from typing import Any


def register(task: Callable[..., Any]) -> None:
    @task(name="extract_users")
    def extract_users() -> list[str]:
        return ["ada"]
