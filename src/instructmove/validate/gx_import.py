"""Great Expectations, imported with usage statistics off and its INFO logs quiet.

Import `gx`, `gxe` and `ProgressBarsConfig` from here, not from great_expectations, so the settings below apply
before GX loads: it logs every function it registers and every store write at INFO.
"""

import logging
import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

__all__ = ["ProgressBarsConfig", "gx", "gxe"]
