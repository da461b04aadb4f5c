"""Receipts of succeeded charges, and monthly statements of an organization's billing."""
