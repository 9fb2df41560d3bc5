from flowloom import Pipeline

pipeline = Pipeline("sales", max_workers=4, max_parallel=3)
task = pipeline.task
