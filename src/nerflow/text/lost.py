"""Why a gold span cannot be carried through tokens: the one list of reasons.

- :data:`NESTED`: overlaps another span (the later/shorter one is dropped, see
  :func:`nerflow.data.spans.remove_overlaps`);
- :data:`INSIDE_WORD_PIECE`: a boundary falls strictly inside a token's character range;
- :data:`TRUNCATED`: reaches beyond the characters covered by the kept tokens;
- :data:`DROPPED_CHARS`: starts or ends on a character that has no token (whitespace...).

The round-trip audit, the tensor cache and the oracle run count lost spans under these
names, in this order.
"""

NESTED = "nested"
INSIDE_WORD_PIECE = "inside_word_piece"
TRUNCATED = "truncated"
DROPPED_CHARS = "dropped_chars"
LOST_REASONS = (NESTED, INSIDE_WORD_PIECE, TRUNCATED, DROPPED_CHARS)
