"""inspatio-drive: what would the car see if it drove this way?

Future-observation generation (geometric renders and the InSpatio-World world model) and
future-consistency scoring for NAVSIM planners, measured with NAVSIM's PDM score.

Frames: the ego frame is the centre of the rear axle, x forward, y left, z up (ISO 8855); cameras use
OpenCV axes (x right, y down, z forward); the global frame is the map's UTM projection in metres.
"""

__version__ = "0.1.0"
