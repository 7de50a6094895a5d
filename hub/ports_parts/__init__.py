"""The pieces of the hub's port, each in a module named after what it holds. Channels import them
from hub.ports (which re-exports them all), never from here."""
