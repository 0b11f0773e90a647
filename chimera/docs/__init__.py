"""Documents generated from the code (AsyncAPI per agent, JSON Schema per event)."""
