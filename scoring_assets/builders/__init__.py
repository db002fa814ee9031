"""Builders of the Dagster wiring: asset factories, checks, jobs, sensors, schedules and resource classes.

Each builder takes a use case (and its ``keys.UseCaseKeys``) and returns definitions; the
``defs`` package instantiates them once per declared use case. Nothing here imports ``defs``.
"""
