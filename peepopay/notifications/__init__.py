"""Email and SMS through the outbox."""
