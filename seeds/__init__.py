"""Demo data: a mid-size Swedish town with its EST organisations, categories, users, and a
generator of synthetic reports with believable structure."""
