"""`make bench`: reinforce's own measurements of speed and memory (see bench/README.md)."""
