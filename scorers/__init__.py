"""Scorers: future-consistency features, the learned FC head, and fusion into planner selection."""
