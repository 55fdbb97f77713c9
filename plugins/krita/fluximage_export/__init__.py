"""Export via Fluximage: a Krita 5 plug-in (File > Export via Fluximage…).

Renders the active document to a temporary PNG, compresses it with the Fluximage API through
the ``fluximage`` Python package (libfluximage), and writes the result where the user chose.

- ``logic.py``: the decisions, in plain Python (tested without Krita);
- ``krita_export.py``: document -> temporary PNG -> logic;
- ``extension.py``: the menu action, dialogs and messages.
"""

try:
    from krita import Krita
except ImportError:  # outside Krita (the tests import .logic): nothing to register
    Krita = None

if Krita is not None:
    from .extension import FluximageExtension

    Krita.instance().addExtension(FluximageExtension(Krita.instance()))
