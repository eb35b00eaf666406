"""Shopper access: tokens minted for one customer, and the /v1/me routes they open."""
