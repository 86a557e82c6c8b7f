"""Risk rules (DESIGN §5): pure evaluation of readings and periodic facts into condition transitions.

No I/O: the ingest path and the scheduler load parameters, context and stored condition states,
call in here, and store what comes back. Temperatures are milli-degrees Celsius in parameters;
readings come as stored, ``value_u`` in millionths of the metric's unit.
"""
