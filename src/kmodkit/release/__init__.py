"""Release pipelines: many (release, target) pairs in one run, the official download layout,
deterministic shards for CI and merging them back into one signed, verified tree."""
