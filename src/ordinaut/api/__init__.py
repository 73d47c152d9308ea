"""The REST API: app factory, routes, request/response schemas, authentication."""
