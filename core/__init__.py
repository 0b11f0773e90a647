"""Chimera's floor: settings, errors, ids, retries, redaction, database and Kafka clients,
observability. It imports nothing of Chimera's above it (checked by import-linter)."""
