"""The operator's commands (`python -m app.cli …`): the outbox, the ledger, money stuck in flight, webhook replays."""
