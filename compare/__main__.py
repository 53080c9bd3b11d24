"""Entry point of `python -m compare`."""

import sys

from compare._cli import main

sys.exit(main())
