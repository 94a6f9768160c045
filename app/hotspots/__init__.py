"""The situation picture: EST cycles, the H3 hotspot layer and its statistics, patterns, maps."""
