"""Planners: candidate trajectory generators behind one protocol (DrivoR port and wrapper, baselines)."""
