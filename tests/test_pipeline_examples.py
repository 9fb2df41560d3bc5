"""Every Python example of the Pipeline guide runs as it is and prints what the guide says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

EXPECTED = {
    "pipeline_quickstart.py": """\
SUCCESS
loaded 2 rows from /tmp/orders.json
""",
    "pipeline_tasks.py": """\
daily_etl
('extract', 'extract_orders', 'sum_values', 'total', 'combine')
{'extract': (), 'extract_orders': (), 'sum_values': ('extract',), 'total': ('extract',), \
'combine': ('extract_orders', 'sum_values')}
daily_etl (5 tasks)
|-- extract
|   |-- sum_values
|   |   `-- combine  [needs extract_orders, sum_values]
|   `-- total
`-- extract_orders
    `-- combine  (^ above)
SUCCESS 1
6
([{'id': 1, 'source': 'https://api.example'}], 6)
['extract'] ['extract']
""",
    "pipeline_context.py": """\
{'batch_id': 42, 'source': 'users_api'}
[{'base': 'https://api.example', 'within_s': True}]
wrote 2 keys to /tmp/sink.parquet
FAILED run exceeded its deadline (timeout_s=0.2)
""",
    "pipeline_report.py": """\
{'run_id': '...',
 'dag_name': 'etl',
 'metadata': {'batch_id': 42},
 'created_at': 0.0,
 'finished_at': 0.0,
 'status': 'SUCCESS',
 'tasks': {'extract': {'status': 'SUCCESS',
                       'attempt': 1,
                       'started_at': 0.0,
                       'finished_at': 0.0,
                       'error': None,
                       'result': []}}}
""",
    "pipeline_resume.py": """\
SUCCESS: extract=SUCCESS, transform=SUCCESS, load=SUCCESS
FAILED: extract=SUCCESS, transform=FAILED, audit=SUCCESS, load=SKIPPED
SUCCESS: extract=SUCCESS, transform=SUCCESS, audit=SUCCESS, load=SUCCESS
loaded 60
SUCCESS: extract=SUCCESS, transform=SUCCESS, audit=SUCCESS, load=SUCCESS
{'audit': 1, 'extract': 2, 'load': 3, 'transform': 4}
ValueError: unknown resume checkpoint "transfrom": pipeline "etl" has no such task. Did you mean "transform"?
""",
    "pipeline_overrides.py": """\
SUCCESS would write {'rows': 1, 'total': 10}
SUCCESS 5
FAILED ConnectionError: no network in tests (https://api.example)
""",
    "pipeline_hooks.py": """\
RETRY extract attempt 2/2
FAIL transform: ValueError: bad rows: [1, 2]
SKIP load (upstream_failed)
DONE etl
""",
    "pipeline_micro_batches.py": """\
0 SUCCESS 3
1 FAILED None
2 SUCCESS 63
""",
    "pipeline_validation.py": """\
2 accepted (1950 cents), 1 quarantined
quarantine: [2]
task "parse" depends on "extract_order", which is not a task of pipeline "broken".
task "store": required parameter "parse" names task "parse", which is not among its deps ['store']: \
add it to deps
task "report": required parameter "sumary" cannot be provided: it is not a dependency, not 'upstream' \
and not annotated RunContext.
dependency cycle: store -> store (each task depends on the next)
""",
    "-m pipeline_sales.run": """\
SUCCESS
1 order(s), total 10
""",
    "-m pipeline_sales.build": """\
['extract_users', 'extract_orders', 'orders_per_user']
SUCCESS 1.0
""",
}


def test_every_pipeline_example_is_checked() -> None:
    scripts = {path.name for path in EXAMPLES.glob("pipeline_*.py")}
    assert scripts == {name for name in EXPECTED if name.endswith(".py")}


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example_prints_what_the_guide_says(example: str) -> None:
    argv = example.split() if example.startswith("-m ") else [str(EXAMPLES / example)]
    done = subprocess.run(
        [sys.executable, *argv], cwd=EXAMPLES, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == EXPECTED[example]
    assert done.stderr == ""
