"""The cache behind ``cache=DIR``: keys, fingerprints, authenticated records, the database."""
