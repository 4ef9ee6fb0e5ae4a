"""``check()``: find why an object cannot be pickled, and say it in a report."""
