"""Stripe Connect: deposits, balances, refunds, webhooks."""
