"""Tradie accounts: the model, sign-up, verification, passwords, sessions and account emails."""
