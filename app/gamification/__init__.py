"""Gamification: leaderboards ranked live from the ingest pipeline's scores."""
