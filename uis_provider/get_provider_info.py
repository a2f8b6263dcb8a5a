"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point (no heavy imports here)."""

from __future__ import annotations

from typing import Any

from uis_provider import __version__


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
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "API base URL",
                        "login": "Login (only for login/password auth)",
                        "password": "API key or password",
                    },
                    "placeholders": {
                        "host": "https://dataapi.uiscom.ru/v2.0",
                        "login": "leave empty when the password field holds an API key",
                        "password": "API key from the UIS cabinet, or the password of the login",
                        "extra": '{"user_id": 12345, "timezone": "Europe/Moscow", "timeout": 60, '
                        '"ca_bundle": "/etc/ssl/corp-ca.pem", "proxy": "http://proxy.corp:3128"}',
                    },
                },
                "conn-fields": {
                    "user_id": {
                        "label": "Client user id (agents)",
                        "description": "Agents act for one of their clients: the client's user id from "
                        "get.customer_users. Leave empty for your own account.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "timezone": {
                        "label": "Account time zone",
                        "description": "IANA name such as Europe/Moscow; dates sent to the API are in this zone. "
                        "Empty: asked once with get.account.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "How long one API request may take before it is retried.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 60},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "Absolute path of a PEM file with the CA certificate(s) to trust for the "
                        "API host, on every worker and the triggerer: a private CA or a TLS-inspecting proxy's. "
                        "Empty: REQUESTS_CA_BUNDLE / SSL_CERT_FILE, else the default CAs.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "verify": {
                        "label": "Verify TLS certificates",
                        "description": "Keep on. Off sends the API key over unverified TLS (a warning is logged).",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "proxy": {
                        "label": "Proxy URL",
                        "description": "http://[user:password@]host:port of the proxy every API request goes "
                        "through (worker and triggerer alike). Empty: HTTPS_PROXY / NO_PROXY from the environment.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
