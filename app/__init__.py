"""Lägesbild: EST – Effektiv samordning för trygghet, on PostGIS."""
