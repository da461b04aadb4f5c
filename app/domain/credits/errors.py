"""Expected failures of PayGo credits."""

from __future__ import annotations

from app.domain.errors import Conflict, ErrorCode


class RefundRefused(Conflict):
    """The payment plugins' refund decision said no; the request and the refusal are recorded."""

    default_code = ErrorCode.REFUND_REFUSED
