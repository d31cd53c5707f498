"""Face detection: MTCNN made fast (FastMTCNN) and tracked between full detections (TrackingDetector)."""
