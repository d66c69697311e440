"""`python -m hpcms` is the same as the `hpcms` command."""

import sys

from .cli import main

sys.exit(main())
