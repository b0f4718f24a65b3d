import pytest

from inspatio_drive.render.synthetic import make_street, synthetic_agent_input


@pytest.fixture(scope="session")
def small_street():
    """The procedural street, coarse, with 4 history frames of 4 cameras at 160×90."""
    street = make_street(step=0.2)
    agent_input, street = synthetic_agent_input(street, image_size=(160, 90), lidar_resolution=(200, 80))
    return street, agent_input
