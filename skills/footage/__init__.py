"""Footage for the generate agent's videos: a licensed clip library (see `filesystem`)."""
