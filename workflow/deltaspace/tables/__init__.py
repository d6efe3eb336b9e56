"""Table builders: collect the workflow's measured results into the paper's tables (CSV)."""
