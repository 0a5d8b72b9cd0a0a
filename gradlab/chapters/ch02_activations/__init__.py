"""Chapter 2 (notebooks/02_activations): the activation explorer, the gradient after N layers per
activation, dead ReLUs and their recovery, and the digits training comparison.
"""
