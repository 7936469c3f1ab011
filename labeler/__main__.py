"""``python -m labeler`` runs the command line."""

from .cli import main

main()
