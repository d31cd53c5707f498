"""Real pixels in the terminal: Sixel and Kitty-graphics encoders, terminal detection, the pixel video renderer.

The encoders (`sixel.py`, `kitty.py`) and the detection (`detect.py`) are plain functions over numpy arrays,
strings and file descriptors, with no Textual; `frames.py` builds the video pane's cells and images.
"""
