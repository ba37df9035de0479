"""Admin pages, behind login. One module per noun; each adds its routes to `bp`."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

# Route modules register themselves on `bp` when imported.
from . import pages  # noqa: E402, F401

# isort: split
from . import imports  # noqa: E402, F401

# isort: split
from . import api_tokens  # noqa: E402, F401

# isort: split
from . import breaches, records  # noqa: E402, F401

# isort: split
from . import admins  # noqa: E402, F401
