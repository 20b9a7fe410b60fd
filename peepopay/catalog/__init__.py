"""The service catalogue: what a tradie offers, its deposit rules, order and archiving."""
