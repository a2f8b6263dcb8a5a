"""``UISUploadedCallsToStorageOperator``: the report operator fixed to ``get.uploaded_calls`` and its columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.params import positive_int


class UISUploadedCallsToStorageOperator(UISReportToStorageOperator):
    """Land the calls uploaded in one window (selected by ``upload_time``) in object storage, exactly once.

    Takes every parameter of :class:`UISReportToStorageOperator` except ``method``, plus ``report_id``.

    :param report_id: a report id from ``get.reports_list``, sent only when set (the Russian reference lists it as
        required, the request example and newer pages omit it); templated.
    """

    template_fields: Sequence[str] = (*UISReportToStorageOperator.template_fields, "report_id")

    def __init__(self, *, report_id: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(method=UPLOADED_CALLS, **kwargs)
        self.report_id = report_id

    def method_params(self) -> dict[str, Any]:
        """The base parameters plus ``report_id`` when it is set."""
        params = super().method_params()
        if self.report_id not in (None, ""):
            params["report_id"] = positive_int(self.report_id, "report_id", "a report id from get.reports_list")
        return params
