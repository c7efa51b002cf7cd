"""Caller authentication, tenancy and rate limits of the front doors."""
