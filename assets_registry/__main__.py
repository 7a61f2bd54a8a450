"""``python -m assets_registry`` runs the ``assets-registry`` command."""

import sys

from assets_registry.apps.cli import main

sys.exit(main())
