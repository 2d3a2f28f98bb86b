"""Console commands: thin flag parsing around library calls (all behaviour lives in the library)."""
