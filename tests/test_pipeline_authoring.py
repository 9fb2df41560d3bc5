"""Declaring pipelines: task registration, dependencies (named, inferred, by callable), what a task is given,
validation messages, the graph's views (tasks, dependencies, display), subgraphs and overrides."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from flowloom import Pipeline, RunContext, TaskRegistry, TaskSpec
from flowloom.ir import RetryPolicy
from flowloom.pipeline import InvalidPipelineError


@dataclass(frozen=True)
class Deps:
    base: str


def errors_of(pipeline: Pipeline) -> list[str]:
    with pytest.raises(InvalidPipelineError) as caught:
        pipeline.validate()
    assert isinstance(caught.value, ValueError)
    return caught.value.errors


def test_a_task_is_named_after_its_function_and_stays_callable() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def extract() -> list[int]:
        return [1, 2]

    assert extract() == [1, 2]
    assert pipeline.tasks == ("extract",)
    spec = pipeline.registry["extract"]
    assert isinstance(spec, TaskSpec)
    assert spec.fn is extract and spec.deps == () and not spec.is_async and spec.retries == 0


def test_the_decorator_also_works_without_parentheses() -> None:
    pipeline = Pipeline("p")

    @pipeline.task
    async def fetch() -> int:
        return 1

    assert pipeline.registry["fetch"].is_async


def test_dependencies_are_inferred_from_required_parameters_named_like_earlier_tasks() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def extract() -> list[int]:
        return [1, 2, 3]

    @pipeline.task()
    def sum_values(extract: list[int], scale: int = 1) -> int:
        return sum(extract) * scale

    assert pipeline.dependencies == {"extract": (), "sum_values": ("extract",)}
    spec = pipeline.registry["sum_values"]
    assert spec.inferred and spec.named == (("extract", "extract"),)
    pipeline.validate()


def test_explicit_deps_by_name_or_callable_and_an_alias() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def extract() -> list[int]:
        return [1]

    @pipeline.task(name="sum_values", deps=[extract])
    def total(extract: list[int]) -> int:
        return sum(extract)

    @pipeline.task(deps=["sum_values", extract])
    def report(sum_values: int) -> str:
        return str(sum_values)

    assert pipeline.dependencies == {
        "extract": (),
        "sum_values": ("extract",),
        "report": ("sum_values", "extract"),
    }
    assert pipeline.registry["report"].named == (("sum_values", "sum_values"),)
    pipeline.validate()


def test_upstream_turns_named_injection_off() -> None:
    pipeline = Pipeline("p")

    @pipeline.task(deps=["users", "orders"])
    def combine(upstream: dict[str, object], users: object = None) -> tuple[object, object]:
        return upstream["users"], upstream["orders"]

    spec = pipeline.registry["combine"]
    assert spec.takes_upstream and spec.named == () and spec.deps == ("users", "orders")


def test_run_context_is_found_by_annotation_wherever_it_stands() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def extract() -> int:
        return 1

    @pipeline.task()
    def first(ctx: RunContext[Deps], extract: int) -> int:
        return extract

    @pipeline.task()
    def optional(extract: int, settings: RunContext[Deps] | None = None) -> int:
        return extract

    @pipeline.task()
    def unannotated(context, extract: int) -> int:  # type: ignore[no-untyped-def]
        return extract

    assert pipeline.registry["first"].context_param == "ctx"
    assert pipeline.registry["optional"].context_param == "settings"
    assert pipeline.registry["unannotated"].context_param is None
    assert pipeline.registry["unannotated"].unprovided == ("context",)


def test_postponed_annotations_that_do_not_evaluate_still_name_run_context() -> None:
    pipeline = Pipeline("p")
    namespace: dict[str, Any] = {}
    exec(
        "def pull(context: 'RunContext[NotDefinedAnywhere]') -> dict:\n    return {}\n",
        {"RunContext": RunContext},
        namespace,
    )
    pipeline.task()(namespace["pull"])
    assert pipeline.registry["pull"].context_param == "context"


def test_run_context_is_found_inside_annotated() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def extract() -> int:
        return 1

    # as in a module without `from __future__ import annotations`: the annotations are objects
    source = (
        "def pull(context: Annotated[RunContext[Deps], 'the run'], extract: int) -> int:\n"
        "    return extract\n"
        "def maybe(extract: int, context: Annotated[RunContext[Deps], 'the run'] | None = None) -> int:\n"
        "    return extract\n"
    )
    namespace: dict[str, Any] = {}
    code = compile(source, "<annotated>", "exec", dont_inherit=True)
    exec(code, {"Annotated": Annotated, "RunContext": RunContext, "Deps": Deps}, namespace)
    pipeline.task()(namespace["pull"])
    pipeline.task()(namespace["maybe"])

    @pipeline.task()
    def postponed(context: Annotated[RunContext[Deps], "the run"]) -> None:
        pass

    for task in ("pull", "maybe", "postponed"):
        assert pipeline.registry[task].context_param == "context"
        assert pipeline.registry[task].unprovided == ()
    pipeline.validate()


def test_dag_local_names_may_repeat_across_pipelines() -> None:
    users = Pipeline("users")
    orders = Pipeline("orders")

    @users.task(name="extract")
    def extract_users() -> list[str]:
        return ["ada"]

    @orders.task(name="extract")
    def extract_orders() -> list[int]:
        return [1]

    assert users.tasks == orders.tasks == ("extract",)


def test_a_duplicate_name_is_refused_at_registration() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def extract() -> int:
        return 1

    with pytest.raises(ValueError, match=r'task "extract" is already registered .*pass name=\.\.\.'):

        @pipeline.task(name="extract")
        def other() -> int:
            return 2


def test_timeout_on_a_sync_task_is_refused_with_the_reason() -> None:
    pipeline = Pipeline("p")
    with pytest.raises(ValueError, match=r'task "slow": timeout_s is for async tasks only') as caught:

        @pipeline.task(timeout_s=1.0)
        def slow() -> None:
            pass

    assert "raise_if_cancelled" in str(caught.value)
    assert "slow" not in pipeline.registry


def test_retries_and_a_backoff_policy() -> None:
    pipeline = Pipeline("p")

    @pipeline.task(retries=2)
    async def flaky() -> None:
        pass

    policy = RetryPolicy(max_attempts=4, delay_s=0.5, backoff=2.0)

    @pipeline.task(retry=policy)
    async def backoff() -> None:
        pass

    assert pipeline.registry["flaky"].retry == RetryPolicy(max_attempts=3)
    assert pipeline.registry["flaky"].retry.delay_s == 0  # type: ignore[union-attr]
    assert pipeline.registry["backoff"].retries == 3
    with pytest.raises(ValueError, match='task "both": retries=1 disagrees'):
        pipeline.task(name="both", retries=1, retry=policy)


def test_bad_task_options_are_refused_naming_the_task() -> None:
    pipeline = Pipeline("p")
    must = "retries must be an integer >= 0"
    with pytest.raises(ValueError, match=re.escape(f'task "negative": {must}, not -1')):

        @pipeline.task(retries=-1)
        def negative() -> None:
            pass

    with pytest.raises(ValueError, match=re.escape(f'task "named": {must}, not True')):
        pipeline.task(name="named", retries=True)
    with pytest.raises(TypeError, match=re.escape('task "policy": retry must be a RetryPolicy, not 3')):

        @pipeline.task(retry=3)  # type: ignore[call-overload]
        def policy() -> None:
            pass

    with pytest.raises(ValueError, match="a task name must be a non-empty string, not ''"):
        pipeline.task(name="")
    assert len(pipeline.registry) == 0


def test_validate_names_every_problem_and_suggests_names() -> None:
    pipeline = Pipeline("etl")

    @pipeline.task()
    def extract() -> int:
        return 1

    @pipeline.task(deps=["extrct"])
    def transform(extrct: int) -> int:
        return extrct

    @pipeline.task()
    def load(extract: int, transfrom: int) -> None:
        pass

    errors = errors_of(pipeline)
    assert errors == [
        'task "transform" depends on "extrct", which is not a task of pipeline "etl". '
        'Did you mean "extract"?',
        'task "load": required parameter "transfrom" cannot be provided: it is not a dependency, not '
        "'upstream' and not annotated RunContext. Did you mean \"transform\"?",
    ]


def test_validate_catches_an_empty_dag_and_cycles() -> None:
    assert errors_of(Pipeline("nothing")) == [
        'pipeline "nothing" has no tasks: register some with @pipeline.task()'
    ]
    pipeline = Pipeline("loop")

    @pipeline.task(deps=["c"])
    def a(c: int) -> int:
        return c

    @pipeline.task(deps=["a"])
    def b(a: int) -> int:
        return a

    @pipeline.task(deps=["b"])
    def c(b: int) -> int:
        return b

    assert errors_of(pipeline) == ["dependency cycle: a -> c -> b -> a (each task depends on the next)"]


def test_validate_catches_cross_dag_dependencies() -> None:
    users = Pipeline("users")
    orders = Pipeline("orders")

    @users.task()
    def extract_users() -> list[str]:
        return []

    def not_a_task() -> None:
        pass

    @orders.task(deps=[extract_users, not_a_task])
    def join(upstream: dict[str, Any]) -> None:
        pass

    assert errors_of(orders)[:2] == [
        'task "join" depends on "extract_users" of pipeline "users": a task may depend only on tasks of '
        'its own pipeline ("orders")',
        "task \"join\" depends on 'not_a_task', a function that is not a registered task: decorate it with "
        "@orders.task() before the tasks that depend on it",
    ]


def test_parameters_named_like_later_or_undeclared_tasks_are_explained() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def early(late: int) -> int:
        return late

    @pipeline.task()
    def late() -> int:
        return 1

    @pipeline.task(deps=[])
    def explicit(late: int) -> int:
        return late

    @pipeline.task(deps=["late"])
    def both(upstream: dict[str, int], late: int) -> int:
        return late

    errors = errors_of(pipeline)
    assert errors == [
        'task "early": required parameter "late" names task "late", which was registered after it; '
        'inferred dependencies only see tasks registered before: pass deps=["late"]',
        'task "explicit": required parameter "late" names task "late", which is not among its deps []: '
        "add it to deps",
        'task "both": required parameter "late" is not given: a task with an "upstream" parameter gets its '
        'dependency results only in upstream["late"]',
    ]


def diamond() -> Pipeline:
    pipeline = Pipeline("diamond")

    @pipeline.task()
    def a() -> int:
        return 1

    @pipeline.task()
    def b(a: int) -> int:
        return a + 1

    @pipeline.task()
    def c(a: int) -> int:
        return a + 2

    @pipeline.task()
    def d(b: int, c: int) -> int:
        return b + c

    return pipeline


def test_tasks_are_listed_dependencies_first_and_displayed_as_ascii() -> None:
    pipeline = diamond()
    assert pipeline.list_tasks() == ["a", "b", "c", "d"]
    assert pipeline.dependencies == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
    assert pipeline.display() == "\n".join(
        [
            "diamond (4 tasks)",
            "`-- a",
            "    |-- b",
            "    |   `-- d  [needs b, c]",
            "    `-- c",
            "        `-- d  (^ above)",
        ]
    )
    assert pipeline.display().isascii()


def test_a_subgraph_holds_the_targets_and_their_dependencies() -> None:
    pipeline = diamond()
    sub = pipeline.subgraph(["b"])
    assert sub.tasks == ("a", "b") and sub.name == "diamond"
    assert pipeline.tasks == ("a", "b", "c", "d")
    with pytest.raises(ValueError, match=r'unknown subgraph target "dd": .* Did you mean "d"\?'):
        pipeline.subgraph(["dd"])


def test_overrides_keep_the_graph_and_refuse_unknown_names() -> None:
    pipeline = diamond()
    overridden = pipeline.override_tasks({"a": 10}, c=lambda a: a * 100)
    assert overridden.dependencies == pipeline.dependencies
    assert overridden.registry["c"].named == (("a", "a"),)
    assert pipeline.registry["a"].fn() == 1  # the original is untouched
    with pytest.raises(ValueError, match=r'unknown task to override "bb".*Did you mean "b"\?'):
        pipeline.override_tasks(bb=1)


def test_registry_graph_views() -> None:
    registry = diamond().registry
    assert isinstance(registry, TaskRegistry)
    assert registry.ancestors(["d"]) == {"a", "b", "c", "d"}
    assert registry.descendants(["b"]) == {"b", "d"}
    assert registry.find_cycle() is None
    assert list(registry.subset(["a", "c"])) == ["a", "c"]


def test_a_pipeline_needs_a_name_and_sane_limits() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        Pipeline("")
    with pytest.raises(ValueError, match=re.escape("max_parallel must be an integer >= 1, not 0")):
        Pipeline("p", max_parallel=0)
    assert Pipeline("p", max_workers=2).config.max_workers == 2
