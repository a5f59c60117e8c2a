"""State store placeholder."""
