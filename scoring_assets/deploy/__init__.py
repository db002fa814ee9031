"""Deployment pieces that Dagster itself loads by name from an instance's ``dagster.yaml`` (``deploy/``)."""
