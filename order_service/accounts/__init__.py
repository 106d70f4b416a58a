"""Shopper accounts of the order service: sign up, sign in, sign out, "my orders" (ADR 0108)."""
