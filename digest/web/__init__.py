"""The subscription web app (Starlette)."""
