"""The ``parmap`` command's subcommands (``check``, ``cache``, ``demo``)."""
