"""The trainer's side: the account's policies, its readiness before class, and the agent's registration."""
