"""Facts about torch logs that the parse and the modules both rely on, each stated once."""
