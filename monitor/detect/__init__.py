"""Detection half: fetch, parse, dedup, match, assess, route; the poller spells out the order."""
