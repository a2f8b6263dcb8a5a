"""Apache Airflow provider for the UIS / CoMagic Data API (import-light: Airflow imports this everywhere)."""

from __future__ import annotations

__version__ = "0.1.0"
