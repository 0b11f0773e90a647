"""Operating Chimera: replays (`chimera replay`) and dead letters (`chimera dlq`).

The logic lives in plain async functions that return data (`replay`, `dlq`); `cli` is the
thin typer layer that prints it.
"""
