"""Delivery to the incident system, in one place:

- `outbox.py`: the outbox's bookkeeping (admission, claims, retries, dead letters, pruning); its tables and the
  write an incident change makes to them are declared with the schema, in `models/outbox_tables.py`;
- `wire_format.py`: the signed CloudEvent each change is POSTed as, and how a receiver verifies it;
- `worker.py`: the worker that sends the outbox to each configured endpoint;
- `admin.py`: the admin service behind `api/routes/deliveries.py`.
"""
