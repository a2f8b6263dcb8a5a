"""JSON-RPC errors as the UIS Data API answers them: code, templated message and the ``data`` block."""

from __future__ import annotations

from typing import Any

CODES: dict[str, int] = {
    "parse_error": -32700,
    "invalid_request": -32600,
    "method_not_found": -32601,
    "invalid_parameter_value": -32602,
    "required_parameter_missed": -32602,
    "unexpected_parameters": -32602,
    "invalid_parameters_combination": -32602,
    "data_type_error": -32602,
    "filter_prohibited": -32602,
    "sort_prohibited": -32602,
    "date_interval_limit_reached": -32602,
    # Documented as -32008, but a live answer carried -32602: the emulator reproduces what was observed.
    "method_component_disabled": -32602,
    "parameter_component_disabled": -32008,
    "internal_error": -32603,
    "auth_error": -32001,
    "access_token_invalid": -32001,
    "access_token_expired": -32001,
    "access_token_blocked": -32001,
    "ip_not_whitelisted": -32003,
    "forbidden": -32003,
    "account_inactive": -32009,
    "limit_exceeded": -32029,
    "batch_opreations_not_supported": -32099,
    "notifications_not_supported": -32099,
}

MESSAGES: dict[str, str] = {
    "parse_error": "Parse error",
    "invalid_request": "Invalid Request",
    "method_not_found": "Method {method} not found",
    "invalid_parameter_value": "Invalid value of parameter {field}",
    "required_parameter_missed": "Required parameter {field} is missed",
    "unexpected_parameters": "Unexpected parameter {value} in {field}",
    "invalid_parameters_combination": "Invalid combination of parameters {field}",
    "data_type_error": "Invalid data type of parameter {field}",
    "filter_prohibited": "Filtering by field {value} is prohibited",
    "sort_prohibited": "Sorting by field {value} is prohibited",
    "date_interval_limit_reached": "Max value of requested date interval is 3 months",
    "method_component_disabled": "Component required by method {method} is disabled for the account",
    "parameter_component_disabled": "Component required by parameter {field} is disabled for the account",
    "internal_error": "Internal error",
    "auth_error": "Authorization error: wrong login or password",
    "access_token_invalid": "The access token is invalid",
    "access_token_expired": "The access token has expired",
    "access_token_blocked": "The access token has been blocked",
    "ip_not_whitelisted": "Access from IP address {ip} is not allowed",
    "forbidden": "Forbidden",
    "account_inactive": "The account is inactive",
    "limit_exceeded": "Limit per {limit_type} has been exceeded. "
    "Value of current limit per {limit_type} is {limit_max_value}",
    "batch_opreations_not_supported": "Batch operations are not supported",
    "notifications_not_supported": "Notifications are not supported",
}


class _Blank(dict[str, object]):
    """Format mapping that leaves unknown placeholders empty instead of failing."""

    def __missing__(self, key: str) -> str:
        return ""


class APIError(Exception):
    """A JSON-RPC error the emulator answers with HTTP 200; raised anywhere below the request dispatcher."""

    def __init__(
        self,
        mnemonic: str,
        *,
        field: str | None = None,
        value: Any = None,
        params: dict[str, Any] | None = None,
        method: str | None = None,
    ) -> None:
        self.mnemonic = mnemonic
        self.field = field
        self.value = value
        self.params = dict(params or {})
        self.method = method
        super().__init__(mnemonic)

    @property
    def code(self) -> int:
        """The JSON-RPC code the API uses for this mnemonic."""
        return CODES.get(self.mnemonic, -32602)

    def message(self) -> str:
        """The human message, filled from ``params`` like the API's templates."""
        template = MESSAGES.get(self.mnemonic, self.mnemonic)
        values = _Blank(self.params)
        values.setdefault("field", self.field or "")
        values.setdefault("value", self.value if isinstance(self.value, str | int) else "")
        values.setdefault("method", self.method or "")
        return template.format_map(values)

    def error_object(self, limits: dict[str, int] | None) -> dict[str, Any]:
        """The ``error`` member of the JSON-RPC answer, ``metadata.limits`` included when known."""
        metadata: dict[str, Any] = {"limits": limits} if limits is not None else {}
        return {
            "code": self.code,
            "message": self.message(),
            "data": {
                "mnemonic": self.mnemonic,
                "field": self.field,
                "value": self.value,
                "params": self.params,
                "extended_helper": None,
                "metadata": metadata,
            },
        }
