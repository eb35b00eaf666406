"""Webhooks: subscriptions, a transactional outbox, and signed, retried delivery."""
