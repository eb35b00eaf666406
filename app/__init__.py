"""reinforce: an event-driven positive-reinforcement (loyalty) service."""

__version__ = "0.1.0"
