"""The GIS edges of the service: formats and protocols for desktop GIS and web maps."""
