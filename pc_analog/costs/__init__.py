"""Stage 10, costs: analog and digital hardware specs, energy, area and timing against backprop."""
