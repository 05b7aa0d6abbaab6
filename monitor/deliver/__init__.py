"""Delivery half: one lane per destination, pacing, digests, rendering and notifiers."""
