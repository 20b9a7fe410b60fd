"""Scheduling: working hours, blocked dates and the slots customers can book."""
