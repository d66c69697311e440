"""Typed deck, units and user-facing errors.  Imports nothing else of hpcms."""

from .deck import Deck, load_deck, deck_from_table, reference
from .errors import DeckError, RunError, EXIT_DECK_ERROR, EXIT_RUN_ERROR

__all__ = ["Deck", "load_deck", "deck_from_table", "reference", "DeckError", "RunError",
           "EXIT_DECK_ERROR", "EXIT_RUN_ERROR"]
