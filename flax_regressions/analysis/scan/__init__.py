"""scan: the lines of a team's code that hit a catalogue case, found with each case's detection rules."""
