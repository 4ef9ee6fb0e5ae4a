"""What crosses between the caller and a worker, and the worker's loop (see worker.py)."""
