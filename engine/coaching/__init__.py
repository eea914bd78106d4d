"""The interview's content: question planning from the bank and skills lexicon (data/), and answer feedback."""
