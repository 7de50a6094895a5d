"""Local fakes of the vendors the hub talks to (real protocols on loopback)."""
