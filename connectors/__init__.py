"""Connectors: one module per external system dialect plus shared HTTP and webhook machinery."""
