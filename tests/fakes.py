"""Hand-written fakes of the shop's own interfaces (adapters arrive with later issues)."""
