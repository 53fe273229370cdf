"""``python -m anomaly_postprocess``: the command-line tool."""

import sys

from .cli import main

sys.exit(main())
