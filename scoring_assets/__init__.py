"""scoring-assets: batch churn scoring as a Dagster asset graph, with a DVC-tracked model."""
