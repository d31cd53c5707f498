"""What the engine runs: one ModelSet resolved and sha256-checked from one folder, the detector, the landmark
predictor's path and the emotion classifier (crop, calibration, card). Imports no TensorFlow."""
