"""The ``uis`` connection form as the running Airflow builds it, from the one table in ``connection_form``."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from uis_provider import connection_form
from uis_provider.connection_form import EXTRA_FIELDS, HIDDEN_FIELDS, RELABELING
from uis_provider.get_provider_info import get_provider_info
from uis_provider.hooks.uis import UISHook
from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS

EXPECTED_KEYS = {f"extra__uis__{field.name}" for field in EXTRA_FIELDS}


def label_of(widget: Any) -> str:
    """A form field's label: 3.2+ keeps a JSON schema ``title``, 3.0/3.1 a stand-in field's ``Param``, 2.11 a
    WTForms field's first argument."""
    field = widget.field
    if isinstance(field, dict):
        return str(field["schema"]["title"])
    if hasattr(field, "param"):
        return str(field.param.schema["title"])
    return str(field.args[0])


def airflow_form() -> tuple[dict[str, Any], dict[str, Any]]:
    """The extra-field widgets and field behaviours the running Airflow's UI gets for every connection type.

    Airflow 3.1 needs no Flask-AppBuilder: its API server calls the hooks' methods with WTForms stood in
    (``HookMetaService``), so that is what is asked here; 3.0 does so only when FAB is installed (for every
    provider's hook-built form); 2.11 (FAB) and 3.2+ (declarative) ask the ProvidersManager directly.
    """
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        pytest.importorskip("flask_appbuilder", reason="Airflow 3.0 shows hook-built forms only with FAB installed")
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_2_PLUS:
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

        _, widgets, behaviours = HookMetaService._get_hooks_with_mocked_fab()
        return widgets, behaviours
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    return manager.connection_form_widgets, manager.field_behaviours


def test_declarative_form_lists_every_field_of_the_table() -> None:
    conn = get_provider_info()["connection-types"][0]
    assert conn["conn-fields"] == connection_form.conn_fields()
    assert list(conn["conn-fields"]) == [field.name for field in EXTRA_FIELDS]
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == list(HIDDEN_FIELDS)
    assert behaviour["relabeling"] == RELABELING
    assert conn["conn-fields"]["timeout"]["schema"] == {"type": ["number", "null"], "minimum": 1, "default": 60}
    assert conn["conn-fields"]["user_id"]["schema"] == {"type": ["integer", "null"], "minimum": 1}


def test_legacy_behaviour_carries_the_same_content_as_the_declarative_one() -> None:
    declarative = connection_form.ui_field_behaviour()
    legacy = connection_form.legacy_ui_field_behaviour()
    assert legacy == {
        "hidden_fields": declarative["hidden-fields"],
        "relabeling": declarative["relabeling"],
        "placeholders": declarative["placeholders"],
    }


@pytest.mark.skipif(AIRFLOW_V_3_2_PLUS, reason="Airflow 3.2+ reads the declarative form; the hook has no methods")
def test_hook_methods_render_the_table_for_airflow_before_3_2() -> None:
    pytest.importorskip("flask_appbuilder", reason="without FAB (3.0/3.1) the API server stands WTForms in")
    widgets = UISHook.get_connection_form_widgets()
    assert list(widgets) == [field.name for field in EXTRA_FIELDS]
    assert [str(w.args[0]) for w in widgets.values()] == [field.label for field in EXTRA_FIELDS]
    assert UISHook.get_ui_field_behaviour() == connection_form.legacy_ui_field_behaviour()


@pytest.mark.skipif(not AIRFLOW_V_3_2_PLUS, reason="only Airflow 3.2+ deprecates the hook methods")
def test_hook_defines_no_deprecated_form_methods_on_3_2_and_later() -> None:
    # Airflow 3.2+ warns exactly when these are in the hook class's own __dict__.
    assert "get_connection_form_widgets" not in UISHook.__dict__
    assert "get_ui_field_behaviour" not in UISHook.__dict__


def test_airflow_builds_the_uis_form_without_deprecation_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        all_widgets, behaviours = airflow_form()
    widgets = {key: w for key, w in all_widgets.items() if key.startswith("extra__uis__")}
    behaviour = behaviours["uis"]
    assert set(widgets) == EXPECTED_KEYS
    assert {key: label_of(w) for key, w in widgets.items()} == {
        f"extra__uis__{field.name}": field.label for field in EXTRA_FIELDS
    }
    assert behaviour["hidden_fields"] == list(HIDDEN_FIELDS)
    assert behaviour["relabeling"] == RELABELING
    assert [str(w.message) for w in caught if "UISHook" in str(w.message)] == []
