"""Golden models: pure NumPy, bit-exact specifications of every hardware block.

This package never imports Amaranth or any other attnkit package.
"""
