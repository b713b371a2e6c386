"""Audit reports: self-contained HTML, Markdown tables and matplotlib figures."""
