"""The web UI extension: a page for people to see, create and run tasks."""
