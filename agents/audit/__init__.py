"""Chimera package."""
