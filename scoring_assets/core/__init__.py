"""The table-agnostic core: contract engine, CSV reading, stages, manifest, model store. Never imports dagster."""
