"""Invitations to an organization: sent by email, answered by the invitee."""
