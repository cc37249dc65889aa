"""The Session Manager plugin: where AWS publishes it (catalog), and how onboard installs it."""
