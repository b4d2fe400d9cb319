"""The admin REST API and the original app's staff endpoints."""
