"""Shared drawing helpers: gradient-flow plots, log lines that mark overflow and underflow, status
colours. Draws stored numbers only (matplotlib); imports no ipywidgets/IPython and nothing from
chapters, ui or grading.
"""
