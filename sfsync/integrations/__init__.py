"""Integrations with orchestrators, each an optional extra calling the facade (``sfsync.api.Project``).

- :mod:`sfsync.integrations.dagster`: one Dagster asset per sync (``pip install 'sfsync[dagster]'``);
- :mod:`sfsync.integrations.airflow`: what an Airflow task calls to run syncs (docs/deployment.md#airflow).

Importing this package imports no orchestrator; each module imports its own.
"""
