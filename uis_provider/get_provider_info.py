"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point (no heavy imports here)."""

from __future__ import annotations

from typing import Any

from uis_provider import __version__, connection_form


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: its hook, operators, sensor, trigger and the ``uis`` connection form."""
    return {
        "package-name": "airflow-provider-uis",
        "name": "UIS Data API",
        "description": "Extract and upload calls with the UIS / CoMagic / CallGear / Novofon Data API (JSON-RPC 2.0).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "UIS Data API",
                "external-doc-url": "https://www.uiscom.ru/academiya/spravochnyj-centr/dokumentatsiya-api/data_api/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "UIS Data API", "python-modules": ["uis_provider.hooks.uis"]}],
        "operators": [
            {
                "integration-name": "UIS Data API",
                "python-modules": [
                    "uis_provider.operators.report",
                    "uis_provider.operators.uploaded_calls",
                    "uis_provider.operators.upload_calls",
                ],
            }
        ],
        "sensors": [{"integration-name": "UIS Data API", "python-modules": ["uis_provider.sensors.uploaded_calls"]}],
        "triggers": [{"integration-name": "UIS Data API", "python-modules": ["uis_provider.triggers.uploaded_calls"]}],
        "connection-types": [
            {
                "connection-type": "uis",
                "hook-class-name": "uis_provider.hooks.uis.UISHook",
                "hook-name": "UIS Data API",
                "ui-field-behaviour": connection_form.ui_field_behaviour(),
                "conn-fields": connection_form.conn_fields(),
            }
        ],
    }
