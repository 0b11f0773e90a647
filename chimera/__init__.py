"""Chimera: an autonomous content pipeline run as event-driven agents over Apache Kafka."""
