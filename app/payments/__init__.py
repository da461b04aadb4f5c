"""Payment plugins: one spec (hookspecs), a manager reading plugins.toml, and a typed async facade.

Application code uses ``load_payments()`` once at start-up and then the ``Payments`` facade only.
Plugin authors import ``hookimpl`` from here and the types from ``app.payments.types``.
"""

from __future__ import annotations

from app.payments.facade import Payments
from app.payments.hookspecs import hookimpl
from app.payments.manager import load_payments

__all__ = ["Payments", "hookimpl", "load_payments"]
