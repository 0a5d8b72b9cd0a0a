"""Chapter 3 (notebooks/03_exploding): a matrix stretching the unit circle, growth against σ_max,
gradients through time, and the plots and widgets for them.
"""
