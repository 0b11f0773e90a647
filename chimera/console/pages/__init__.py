"""The console's pages, one module per area; each endpoint says the action it needs."""
