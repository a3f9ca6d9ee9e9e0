"""Shared pytest configuration: marker tiers and seed reporting."""
