"""``python -m dripsms`` is the ``dripsms`` command."""

from __future__ import annotations

from dripsms.cli.app import main

main()
