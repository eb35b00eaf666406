"""``reinforce demo``: the starter programme and a synthetic shop history to explore it with."""
