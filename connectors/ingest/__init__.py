"""Ingest adapters: split raw audit input into records (framing) and produce them to Kafka.

``framing`` holds the pure functions that cut bytes into records per source family,
``follow`` tails a growing file across rotation, ``producer`` writes records and rejects to Kafka.
"""
