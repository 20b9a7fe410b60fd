"""Customers: one record per person a tradie has booked, matched by email or phone."""
