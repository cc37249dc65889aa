"""The Session Manager data-channel protocol, shared by the lab's server and the lab's client plugin."""
