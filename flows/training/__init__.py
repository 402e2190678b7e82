"""Training runs of the lab: reading them and forecasting their learning curves."""
