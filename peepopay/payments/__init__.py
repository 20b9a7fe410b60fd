"""Payments through Stripe Connect: the one gateway to Stripe, the payment records and their
ledger, onboarding, starting deposits, balance links, refunds, disputes, payment method
domains, payouts, reports, and the verification of Stripe's webhook events. What a payment
means for a booking is the bookings area's (`peepopay.bookings.payment_outcomes`); the pages
are the surfaces'."""
