"""Several zapgate nodes on one PostgreSQL (docs/cluster.md): node registry and heartbeat,
connection leases with fencing, the start-up lock, cross-node wake-ups.

Sits between ``events`` and ``store``: it knows tables and the database, never sessions
or services; the runtime wires it to the supervisor.
"""
