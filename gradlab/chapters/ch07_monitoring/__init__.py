"""Chapter 7 (notebooks/07_monitoring): the tutorial monitor and its in-place failure, the diagnosis
table as broken/fixed scenarios, and the live dashboard.
"""
