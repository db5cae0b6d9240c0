"""The catalog flow: product models and prices both ways, by field owner, without loops."""

from bizbus.flows.catalog.flow import CatalogFlow

__all__ = ["CatalogFlow"]
