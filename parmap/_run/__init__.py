"""The caller's side of a run: arguments, input, chunk sizes, the scheduler, errors, progress."""
