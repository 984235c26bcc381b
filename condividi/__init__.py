"""Code every Condividi process shares: settings, database and unit of work, events, identity, errors,
logging and health. Services import from here; nothing here imports a service."""
