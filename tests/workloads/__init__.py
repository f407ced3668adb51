"""Workflow apps that tests run in separate worker processes."""
