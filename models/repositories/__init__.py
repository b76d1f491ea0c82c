"""One repository per aggregate, all over one `models.database.Database`: incidents (with their closed-loop
history), the live-push message log, camera status, and the statistics over incidents. `models.store.Store`
composes them and wires the hooks that announce an incident change."""
