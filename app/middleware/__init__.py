"""Protections in front of the routes: request body limits and per-caller rate limits."""
