"""``python -m actiondubber`` runs the command line."""

from actiondubber.cli import main

main()
