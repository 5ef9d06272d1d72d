"""Tools for testing tsrt itself against hostile input: tsrt.testing.fuzz."""
