"""NAVSIM v1.1 metric-cache builder: PDM-Closed reference, centerline, drivable-area map, observation."""
