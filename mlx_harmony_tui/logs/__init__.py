"""Chat logs: the schema v2 store, migration from v1, consistency checks, listing."""
