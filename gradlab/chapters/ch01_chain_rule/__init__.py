"""Chapter 1 (notebooks/01_chain_rule): the per-layer factor measured against theory, and the
gradient-flow widget.
"""
