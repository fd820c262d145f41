"""Delivery: getting each invoice and each event to whoever waits for it, a stage after the merge."""
