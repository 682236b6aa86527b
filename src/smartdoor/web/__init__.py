"""Demo-only web pages: the simulated door and the dev inbox (mounted by `smartdoor demo`)."""
