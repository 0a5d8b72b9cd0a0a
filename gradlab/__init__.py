"""gradlab: measure, explain and diagnose gradient flow in deep networks.

The package behind the gradlab course (notebooks/). Every number a chapter states is computed here.
"""

__version__ = "0.1.0"
