"""Input and output: frame sources, the session log (its formats and its sink), events and Lab Streaming Layer."""
