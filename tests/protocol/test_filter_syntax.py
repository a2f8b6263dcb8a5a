"""The filter table is one for the provider and the emulator: what it does not list, both refuse."""

from __future__ import annotations

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.catalog import method_spec
from uis_provider.protocol.filter_syntax import LIST_OPERATORS, OPERATORS, ORDER_OPERATORS, PATTERN_OPERATORS
from uis_provider.protocol.filters import validate_filter
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.testing.errors import APIError
from uis_provider.testing.query import columns_of, compile_filter


def test_every_kind_of_operator_is_an_operator_of_one_kind() -> None:
    kinds = (LIST_OPERATORS, ORDER_OPERATORS, PATTERN_OPERATORS)
    assert all(kind <= OPERATORS for kind in kinds)
    assert sum(len(kind) for kind in kinds) == len(LIST_OPERATORS | ORDER_OPERATORS | PATTERN_OPERATORS)


@pytest.mark.parametrize("operator", ["~~", "==", "contains"])
def test_an_operator_the_table_does_not_list_is_refused_by_the_provider_and_the_emulator(operator: str) -> None:
    node = {"field": "status", "operator": operator, "value": "processed"}
    with pytest.raises(UISConfigurationError, match=f"operator={operator!r} is not an operator of the API"):
        validate_filter(node, method=UPLOADED_CALLS)
    spec = method_spec("get.uploaded_calls")
    assert spec is not None
    with pytest.raises(APIError) as refused:
        compile_filter(node, columns_of(spec))
    assert refused.value.mnemonic == "invalid_parameter_value"


@pytest.mark.parametrize("operator", sorted(OPERATORS - {"jsquery"} - LIST_OPERATORS))
def test_the_emulator_takes_every_single_value_operator_of_the_table_but_jsquery(operator: str) -> None:
    spec = method_spec("get.uploaded_calls")
    assert spec is not None
    node = {"field": "status", "operator": operator, "value": "processed"}
    assert compile_filter(node, columns_of(spec)) is not None
