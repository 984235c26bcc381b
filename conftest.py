pytest_plugins = ["condividi.testing"]
