"""The events demo extension: the event spine end to end, in a few lines."""
