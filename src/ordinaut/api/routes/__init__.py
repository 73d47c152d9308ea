"""One module of routes per feature."""
