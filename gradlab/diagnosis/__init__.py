"""diagnose(): from a monitor's history to findings (the rules) and a Report with fixes. Library:
torch + numpy only; no plotting, ui, chapters or grading.
"""
