"""SQL, one module per table: handlers call these with their transaction's connection.

The runtime's own tables (`inbox`, `outbox`, `parked_events`) belong to `agents.runtime`; every
domain table (trends, content, workflows, budget, publications, engagement, audit logs) is read
and written here, so a schema change has one place to go.
"""
