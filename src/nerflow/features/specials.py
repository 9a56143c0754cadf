"""The specials every feature vocabulary starts with (bigrams, lexicon words)."""

SPECIALS: tuple[str, ...] = ("[PAD]", "[UNK]")
PAD_ID, UNK_ID = 0, 1
