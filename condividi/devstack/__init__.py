"""Running the whole system on one machine: embedded PostgreSQL, the Tansu broker, the five processes,
the demo organisation (``make run``)."""
