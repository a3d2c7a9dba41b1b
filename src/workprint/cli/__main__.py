"""``python -m workprint.cli``: the same as the ``workprint`` command."""

from workprint.cli.main import main

main()
