"""Delivery: the outbox queue, the channel pacer, job handlers and worker threads."""
