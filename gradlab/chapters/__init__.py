"""One package per notebook (chNN_name): that chapter's own compute, plots, widgets and questions.
A chapter imports the library, plotting and ui, never another chapter: what two chapters share
moves to the library.
"""
