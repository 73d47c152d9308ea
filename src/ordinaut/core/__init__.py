"""Domain types, states, errors, clock and settings: the layer everything else builds on."""
