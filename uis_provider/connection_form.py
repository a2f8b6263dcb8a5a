"""The ``uis`` connection form, declared once and rendered for every Airflow line.

Airflow 3.2+ builds the form from ``get_provider_info()`` (``conn-fields`` / ``ui-field-behaviour``); 2.11-3.1 call
the hook's ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()``. Both are generated from the tables
below so they cannot drift. Import-light: ``get_provider_info`` imports this module in every Airflow component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: Standard connection fields the ``uis`` type does not use.
HIDDEN_FIELDS: tuple[str, ...] = ("schema", "port")

#: Labels of the standard fields the ``uis`` type uses.
RELABELING: dict[str, str] = {
    "host": "API base URL",
    "login": "Login (only for login/password auth)",
    "password": "API key or password",
}

#: Placeholders of the standard fields.
PLACEHOLDERS: dict[str, str] = {
    "host": "https://dataapi.uiscom.ru/v2.0",
    "login": "leave empty when the password field holds an API key",
    "password": "API key from the UIS cabinet, or the password of the login",
    "extra": '{"user_id": 12345, "timezone": "Europe/Moscow", "timeout": 60, '
    '"ca_bundle": "/etc/ssl/corp-ca.pem", "proxy": "http://proxy.corp:3128"}',
}


@dataclass(frozen=True)
class ExtraField:
    """One field of the connection's extra: its key, label, help text, JSON type and optional limits.

    ``kind`` is the JSON-Schema type of a set value (an empty field is always allowed and means "not set");
    ``secret`` fields are rendered as password inputs.
    """

    name: str
    label: str
    description: str
    kind: Literal["string", "integer", "number", "boolean"]
    placeholder: str | None = None
    minimum: float | None = None
    default: Any = None
    secret: bool = False

    def schema(self) -> dict[str, Any]:
        """The field's JSON Schema for the 3.2+ declarative form."""
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.default is not None:
            schema["default"] = self.default
        if self.secret:
            schema["format"] = "password"
        return schema


#: The extra fields of the ``uis`` connection; adding a field here adds it to every Airflow line's form.
EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        name="user_id",
        label="Client user id (agents)",
        description="Agents act for one of their clients: the client's user id from get.customer_users. "
        "Leave empty for your own account.",
        kind="integer",
        minimum=1,
    ),
    ExtraField(
        name="timezone",
        label="Account time zone",
        description="IANA name such as Europe/Moscow; dates sent to the API are in this zone. "
        "Empty: asked once with get.account.",
        kind="string",
    ),
    ExtraField(
        name="timeout",
        label="Request timeout (seconds)",
        description="How long one API request may take before it is retried.",
        kind="number",
        minimum=1,
        default=60,
    ),
    ExtraField(
        name="ca_bundle",
        label="CA bundle path",
        description="Absolute path of a PEM file with the CA certificate(s) to trust for the API host, on every "
        "worker and the triggerer: a private CA or a TLS-inspecting proxy's. Empty: REQUESTS_CA_BUNDLE / "
        "SSL_CERT_FILE, else the default CAs.",
        kind="string",
    ),
    ExtraField(
        name="verify",
        label="Verify TLS certificates",
        description="Keep on. Off sends the API key over unverified TLS (a warning is logged).",
        kind="boolean",
        default=True,
    ),
    ExtraField(
        name="proxy",
        label="Proxy URL",
        description="http://[user:password@]host:port of the proxy every API request goes through (worker and "
        "triggerer alike). Empty: HTTPS_PROXY / NO_PROXY from the environment.",
        kind="string",
    ),
)


def conn_fields() -> dict[str, dict[str, Any]]:
    """``conn-fields`` of ``get_provider_info()`` (Airflow 3.2+): each extra field as label, help and JSON Schema."""
    return {
        field.name: {"label": field.label, "description": field.description, "schema": field.schema()}
        for field in EXTRA_FIELDS
    }


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` of ``get_provider_info()`` (Airflow 3.2+, kebab-case keys)."""
    return {
        "hidden-fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": {**PLACEHOLDERS, **_extra_placeholders()},
    }


def legacy_ui_field_behaviour() -> dict[str, Any]:
    """What ``get_ui_field_behaviour()`` returns for Airflow 2.11-3.1 (snake_case keys, same content)."""
    return {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": {**PLACEHOLDERS, **_extra_placeholders()},
    }


def legacy_form_widgets() -> dict[str, Any]:
    """What ``get_connection_form_widgets()`` returns for Airflow 2.11-3.1: a WTForms field per extra field.

    The imports are Flask-AppBuilder's and WTForms' (Airflow 3.0/3.1 stand them in when FAB is not installed).
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        label = lazy_gettext(field.label)
        validators: list[Any] = [Optional()]
        if field.minimum is not None:
            validators.append(NumberRange(min=field.minimum))
        if field.kind == "boolean":
            widgets[field.name] = BooleanField(label, description=field.description, default=field.default)
        elif field.secret:
            widgets[field.name] = PasswordField(
                label, widget=BS3PasswordFieldWidget(), description=field.description, validators=validators
            )
        elif field.kind == "integer":
            widgets[field.name] = IntegerField(
                label,
                widget=BS3TextFieldWidget(),
                description=field.description,
                validators=validators,
                default=field.default,
            )
        else:
            # A "number" is entered as text too: WTForms' FloatField/DecimalField would reject "60" typed as "60 ".
            widgets[field.name] = StringField(
                label,
                widget=BS3TextFieldWidget(),
                description=field.description,
                validators=[Optional()],
                default=None if field.default is None else str(field.default),
            )
    return widgets


def _extra_placeholders() -> dict[str, str]:
    return {field.name: field.placeholder for field in EXTRA_FIELDS if field.placeholder is not None}
