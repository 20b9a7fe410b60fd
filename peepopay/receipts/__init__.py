"""Receipts and tax invoices: a booking's money from its payment records, numbered per
tradie without gaps, as HTML (the surfaces' templates) and as PDF (emails and downloads).

Below payments and notifications: it reads models only, so both may use it.
"""
