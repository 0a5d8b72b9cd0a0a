"""Chapter 6 (notebooks/06_clipping): norm vs value clipping on a real gradient, the clipping sweep
on the adding problem, RNN vs LSTM through time, injected gradient spikes, and thresholds derived
from recorded gradient norms; the plots, widget and questions for them.
"""
