"""The browser tests drive the capture page with the face tests' shared engine and photos."""

from tests.faces.conftest import (  # noqa: F401 (fixtures are found by being imported here)
    astronaut,
    astronaut_jpeg,
    face_service,
    grace,
    open_withdrawal,
)
