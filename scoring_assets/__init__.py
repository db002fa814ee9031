"""scoring-assets: batch scoring of declared use cases as a Dagster asset graph, with DVC-tracked models."""
