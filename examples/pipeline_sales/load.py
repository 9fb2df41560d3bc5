from .runtime import task


@task(deps=["summarize_orders"])
def load_summary(summarize_orders: dict[str, int]) -> str:
    return f"{summarize_orders['rows']} order(s), total {summarize_orders['total']}"
