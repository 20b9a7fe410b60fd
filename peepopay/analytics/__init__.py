"""Figures about a tradie's business: the overview, weekly series, booking-page views."""
