"""One module per command; ``pixelboard.cli`` assembles them into the click group."""
