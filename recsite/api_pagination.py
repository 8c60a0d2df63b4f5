"""The API's pagination: page numbers, a client-chosen page size within bounds."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class ApiPagination(PageNumberPagination):
    """Page numbers; `page_size` may be chosen by the client, up to a bound. A page size that
    is not a number from 1 to the bound is refused (DRF would quietly use the default)."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = raw.strip()
        if not size.isdecimal() or not 1 <= int(size) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]},
                code="invalid",
            )
        return int(size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        # Strictly a number from 1: DRF would read "" as page 1 and take "last".
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not raw.isdecimal() or int(raw) < 1:
            raise exceptions.NotFound(
                self.invalid_page_message.format(message="Not a page number.")
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
        return parameters
