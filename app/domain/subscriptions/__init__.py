"""Monthly subscriptions to a model's tier: subscribe, change tier, cancel, renew, and tier capacity."""
