"""``reinforce import``: a shop's history, loaded through the ingest pipeline."""
