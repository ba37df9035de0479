"""Blueprints: public (subscriber pages), admin (behind login), api (token-authenticated)."""
