"""Payment providers shipped with the service, each a plugin package: fake (default) and stripe."""
