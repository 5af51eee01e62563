"""``python -m pc_analog`` runs the command line."""

import sys

from pc_analog.cli.main import main

sys.exit(main())
