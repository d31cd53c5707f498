"""The emotion classifier the app runs: its crop, its calibration and its model card."""
