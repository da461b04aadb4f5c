"""The product's one mail path: a transactional outbox and the worker that delivers it."""
