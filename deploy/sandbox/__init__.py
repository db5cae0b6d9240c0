"""Reference CRM (Salesforce dialect), ERP (Odoo dialect) and OA (Feishu dialect) servers.

Each speaks the part of its product's real API that bizbus uses, keeps its own SQLite database,
logs every write as an effect and injects faults on request, for tests, benchmarks and the demo.
"""
