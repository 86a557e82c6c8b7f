"""The edge gateway (DESIGN §3, §4): runs at the warehouse, reads devices through drivers, keeps every
reading in an on-disk buffer until the broker has acknowledged it, and replays a backlog after an
outage with the readings' original capture times.

- ``config``: the ``edge.toml`` file.
- ``driver``: what a driver returns and the interface every driver offers.
- ``simulator``: a cold room with realistic physics, driven by an explicit clock.
- ``modbus``: temperature controllers and scales over Modbus TCP.
- ``buffer``: the SQLite buffer; batches are sealed (numbered and signed) there, once.
- ``publisher``: MQTT QoS 1 with a bound on unacknowledged messages and on the sending rate.
- ``gateway``: the run loop tying them together; ``command``: ``coldpledge edge``.
"""
