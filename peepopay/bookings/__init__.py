"""Bookings: creating, holding and moving a customer's claim on a slot."""
