"""Admin route modules are imported here (placeholder until the admin issue lands)."""
