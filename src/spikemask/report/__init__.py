"""Reporting: text tables and PNG plots of results."""
