"""IoT: device registry, the telemetry payload, ingestion over MQTT and HTTP, storage and rollups,
cold-chain metrics, device health and the edge gateway (DESIGN §4)."""
